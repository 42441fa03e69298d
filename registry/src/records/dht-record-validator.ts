import { SignedRecord } from "@ncn/protocol";
import * as v from "valibot";
import type { NameOwnerReader } from "../chain/name-owners.ts";
import type { Logger } from "../logger.ts";
import { checkRecord, decodeRecordValue } from "./check-record.ts";
import type { RecordIndex } from "./record-index.ts";

const keyDecoder = new TextDecoder();

export interface DhtRecordValidatorInit {
  index: RecordIndex;
  log: Logger;
  /** Owners of subnet and model names (the chain), when the node reads one. */
  names?: NameOwnerReader | undefined;
  /** Called with each record that passed, so records met in the DHT reach the index too. */
  onValid?: (record: SignedRecord) => void;
  /** Counts refused records, by error code. */
  onRejected?: (code: string) => void;
}

/**
 * The kad-dht validator of the `ncn` namespace. kad-dht calls it on every record it stores
 * for a peer and on every record a lookup returns; throwing refuses the record.
 */
export function dhtRecordValidator(init: DhtRecordValidatorInit) {
  return async (key: Uint8Array, value: Uint8Array): Promise<void> => {
    const dhtKey = keyDecoder.decode(key);
    try {
      const record = await checkRecord(decodeRecordValue(value), {
        dhtKey,
        index: init.index,
        ...(init.names ? { names: init.names } : {}),
      });
      init.onValid?.(record);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      init.onRejected?.(typeof code === "string" ? code : "INTERNAL");
      init.log.debug("refused DHT record", { dhtKey, err: e });
      throw e;
    }
  };
}

/** The kad-dht selector of the `ncn` namespace: the record with the highest seq wins. */
export function dhtRecordSelector(_key: Uint8Array, values: Uint8Array[]): number {
  let best = 0;
  let bestSeq = -1;
  values.forEach((value, i) => {
    let seq = -1;
    try {
      const parsed = v.safeParse(SignedRecord, decodeRecordValue(value));
      if (parsed.success) seq = parsed.output.seq;
    } catch {
      seq = -1;
    }
    if (seq > bestSeq) {
      best = i;
      bestSeq = seq;
    }
  });
  return best;
}
