import { ReputationReport } from "@ncn/protocol";
import { TOPIC_REPUTATION } from "../../constants.ts";
import type { ReputationService } from "../../reputation/reputation-service.ts";
import type { TopicHandler } from "../gossip-service.ts";

/** Signed reputation reports from trusted gateways and validators, relayed between nodes. */
export function reputationHandler(reputation: ReputationService): TopicHandler<ReputationReport> {
  return {
    topic: TOPIC_REPUTATION,
    schema: ReputationReport,
    async handle(message) {
      const applied = await reputation.acceptReport(message);
      return applied > 0 ? "accept" : "ignore";
    },
  };
}
