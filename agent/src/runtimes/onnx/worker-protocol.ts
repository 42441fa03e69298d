import type { Dtype, TensorData } from "@ncn/protocol";

/** A tensor crossing the thread boundary (structured clone or transfer). */
export interface WireTensor {
  dtype: Dtype;
  dims: number[];
  data: TensorData;
}

export type WorkerRequest =
  | { op: "load"; id: number; key: string; bytes: Uint8Array; options: Record<string, unknown> }
  | { op: "run"; id: number; key: string; feeds: Record<string, WireTensor>; fetches: string[] }
  | { op: "release"; id: number; key: string };

export type WorkerReply =
  | { id: number; ok: true; outputs?: Record<string, WireTensor> }
  | { id: number; ok: false; error: string };
