import type { Dtype, TensorData } from "@ncn/protocol";

/** A tensor crossing the thread boundary (structured clone or transfer). */
export interface WireTensor {
  dtype: Dtype;
  dims: number[];
  data: TensorData;
}

export type WorkerRequest =
  /** `maxOutputBytes`: a model whose declared outputs are larger is refused at load. */
  | {
      op: "load";
      id: number;
      key: string;
      bytes: Uint8Array;
      options: Record<string, unknown>;
      maxOutputBytes: number;
    }
  /** `hash`: also return `hashTensors` of the feeds and of the outputs. */
  | {
      op: "run";
      id: number;
      key: string;
      feeds: Record<string, WireTensor>;
      fetches: string[];
      hash?: boolean;
      /** Outputs larger than this in all are refused (`MODEL_LIMIT_EXCEEDED`), not returned. */
      maxOutputBytes: number;
    }
  | { op: "release"; id: number; key: string }
  /**
   * Stop taking work and end the thread once the run under way has returned (ending it
   * during a run aborts the whole process when onnxruntime completes the run). Not answered.
   */
  | { op: "retire"; id: number };

/** Sent before a run's own reply: the run has left the queue and started. */
export interface WorkerStarted {
  id: number;
  started: true;
}

export type WorkerReply =
  /** `ms`: time `session.run` took on the inference thread (run replies). */
  | {
      id: number;
      ok: true;
      outputs?: Record<string, WireTensor>;
      ms?: number;
      inputHash?: `0x${string}`;
      outputHash?: `0x${string}`;
    }
  /** `limit`: the model went past a limit (`MODEL_LIMIT_EXCEEDED`), as opposed to failing. */
  | { id: number; ok: false; error: string; limit?: true };
