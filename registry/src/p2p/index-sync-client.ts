import type { AbortOptions, Stream } from "@libp2p/interface";
import type { NameOwnerReader } from "../chain/name-owners.ts";
import { MAX_SYNC_LINE_BYTES } from "../constants.ts";
import type { Logger } from "../logger.ts";
import { checkRecord } from "../records/check-record.ts";
import type { RecordIndex } from "../records/record-index.ts";

const decoder = new TextDecoder("utf-8", { fatal: true });

export interface SyncResult {
  received: number;
  indexed: number;
  refused: number;
}

/**
 * Pulls a peer's index over `/ncn/index-sync/1.0.0`; every line passes the same checks as
 * any record (signature, schema, expiry, no roll-back) before it is indexed.
 */
export async function pullIndex(
  open: (options: AbortOptions) => Promise<Stream>,
  index: RecordIndex,
  options: { log: Logger; peer: string; signal: AbortSignal; names?: NameOwnerReader | undefined },
): Promise<SyncResult> {
  const { log, peer, signal } = options;
  const out: SyncResult = { received: 0, indexed: 0, refused: 0 };
  const stream = await open({ signal });
  let pending = new Uint8Array(0);
  const take = async (line: Uint8Array) => {
    if (line.byteLength === 0) return;
    out.received++;
    try {
      const record = await checkRecord(JSON.parse(decoder.decode(line)), {
        index,
        ...(options.names ? { names: options.names } : {}),
      });
      if (index.upsert(record) !== "unchanged") out.indexed++;
    } catch (e) {
      out.refused++;
      log.debug("sync line refused", { peer, err: e });
    }
  };
  try {
    for await (const chunk of stream) {
      const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray();
      const joined = new Uint8Array(pending.byteLength + bytes.byteLength);
      joined.set(pending);
      joined.set(bytes, pending.byteLength);
      let start = 0;
      for (let i = 0; i < joined.byteLength; i++) {
        if (joined[i] !== 0x0a) continue;
        await take(joined.subarray(start, i));
        start = i + 1;
      }
      pending = joined.slice(start);
      if (pending.byteLength > MAX_SYNC_LINE_BYTES) throw new Error("index sync line too long");
    }
    await take(pending);
    await stream.close({ signal });
  } catch (e) {
    stream.abort(e instanceof Error ? e : new Error(String(e)));
    throw e;
  }
  return out;
}
