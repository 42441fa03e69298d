import { AgentHeartbeat, verifyHeartbeat } from "@ncn/protocol";
import { recoverTextSignerNative } from "@ncn/protocol/secp256k1";
import { CLOCK_SKEW_MS, TOPIC_HEARTBEAT } from "../../constants.ts";
import type { RecordIndex } from "../../records/record-index.ts";
import type { TopicHandler } from "../gossip-service.ts";

/** Agent heartbeats: a newer signed heartbeat of a known agent extends its liveness. */
export function heartbeatHandler(index: RecordIndex): TopicHandler<AgentHeartbeat> {
  return {
    topic: TOPIC_HEARTBEAT,
    schema: AgentHeartbeat,
    async handle(message) {
      const hb = await verifyHeartbeat(message, Date.now(), CLOCK_SKEW_MS * 2, recoverTextSignerNative);
      if (!index.get("agent", hb.agent)) return "ignore";
      return index.heartbeat(hb) ? "accept" : "ignore";
    },
  };
}
