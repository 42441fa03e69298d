import type { Stream } from "@libp2p/interface";
import type { Logger } from "../logger.ts";
import type { RecordIndex } from "../records/record-index.ts";

const encoder = new TextEncoder();

/**
 * Serves `/ncn/index-sync/1.0.0`: streams every live record of the index as JSON lines,
 * then closes. Agents are sent only while alive.
 */
export function indexSyncHandler(index: RecordIndex, log: Logger) {
  return async (stream: Stream): Promise<void> => {
    try {
      const now = Date.now();
      for (const kind of ["subnet", "model", "validator", "agent"] as const) {
        for (const { record } of index.list(kind)) {
          if (record.kind === "agent" && index.aliveUntil(record) <= now) continue;
          if (!stream.send(encoder.encode(`${JSON.stringify(record)}\n`))) await stream.onDrain();
        }
      }
      await stream.close();
    } catch (e) {
      log.debug("index sync serve failed", { err: e });
      stream.abort(e instanceof Error ? e : new Error(String(e)));
    }
  };
}
