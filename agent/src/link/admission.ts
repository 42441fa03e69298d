import type { ErrorCode } from "@ncn/protocol";

export interface AdmissionState {
  running: number;
  /** Tasks run at once. */
  concurrency: number;
  /** Tasks accepted and waiting for a free slot. */
  queued: number;
  /** Most tasks that may wait; one more is refused. */
  maxQueued: number;
  /** Bytes of results waiting for the gateway's acknowledgement. */
  outboxBytes: number;
  outboxMaxBytes: number;
}

export interface Refusal {
  code: Extract<ErrorCode, "UNAVAILABLE">;
  message: string;
}

/**
 * Whether the agent takes one more task. A full queue or a full outbox (a gateway that
 * does not acknowledge results) is answered at once with `UNAVAILABLE`: the gateway gives
 * the task to another agent, and the agent's memory and disk stay bounded. A running task
 * always keeps its result, whatever the outbox holds.
 *
 * @example admitTask({ running: 2, concurrency: 2, queued: 3, maxQueued: 3, outboxBytes: 0, outboxMaxBytes: 1 }) // { code: "UNAVAILABLE", ... }
 */
export function admitTask(s: AdmissionState): Refusal | null {
  if (s.outboxBytes >= s.outboxMaxBytes) {
    return {
      code: "UNAVAILABLE",
      message: `agent is full: ${s.outboxBytes} bytes of results wait for the gateway's acknowledgement`,
    };
  }
  if (s.running >= s.concurrency && s.queued >= s.maxQueued) {
    return { code: "UNAVAILABLE", message: `agent is full: ${s.queued} tasks already wait for a free slot` };
  }
  return null;
}
