import { TOPIC_MEMPOOL } from "../../constants.ts";
import type { MempoolService } from "../../mempool/mempool-service.ts";
import type { TopicHandler } from "../gossip-service.ts";
import { MempoolMessage } from "../mempool-message.ts";

/** Pending validation work and the attestations validators signed for it. */
export function mempoolHandler(mempool: MempoolService): TopicHandler<MempoolMessage> {
  return { topic: TOPIC_MEMPOOL, schema: MempoolMessage, handle: (message) => mempool.handle(message) };
}
