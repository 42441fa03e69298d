import type { Dtype, TensorData } from "@ncn/protocol";

/** A tensor crossing the thread boundary (structured clone or transfer). */
export interface WireTensor {
  dtype: Dtype;
  dims: number[];
  data: TensorData;
}

export type WorkerRequest =
  | { op: "load"; id: number; key: string; bytes: Uint8Array; options: Record<string, unknown> }
  /** `hash`: also return `hashTensors` of the feeds and of the outputs. */
  | {
      op: "run";
      id: number;
      key: string;
      feeds: Record<string, WireTensor>;
      fetches: string[];
      hash?: boolean;
    }
  | { op: "release"; id: number; key: string };

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
  | { id: number; ok: false; error: string };
