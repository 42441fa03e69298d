import { SignedRecord } from "@ncn/protocol";
import type { NameOwnerReader } from "../../chain/name-owners.ts";
import { TOPIC_RECORDS } from "../../constants.ts";
import { checkRecord } from "../../records/check-record.ts";
import type { RecordIndex } from "../../records/record-index.ts";
import type { TopicHandler } from "../gossip-service.ts";

/** Record announcements: a verified record newer than the index's copy is indexed and forwarded. */
export function recordsHandler(index: RecordIndex, names?: NameOwnerReader): TopicHandler<SignedRecord> {
  return {
    topic: TOPIC_RECORDS,
    schema: SignedRecord,
    async handle(message) {
      const known = index.get(message.kind, message.key)?.record;
      if (known && known.seq === message.seq && known.signature === message.signature) return "ignore";
      const record = await checkRecord(message, { index, ...(names ? { names } : {}) });
      return index.upsert(record) === "unchanged" ? "ignore" : "accept";
    },
  };
}
