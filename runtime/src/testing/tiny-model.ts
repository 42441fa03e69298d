import type { ModelDescriptor, Sha256 } from "@ncn/protocol";
import { onnx } from "onnx-proto";
import { sha256Hex } from "../runtimes/onnx/sha256.ts";

/** Weights of the tiny model: y = relu(x · W + B), x: [batch, 4], W: [4, 3], B: [3]. */
export const TINY_WEIGHTS = {
  W: [0.5, -1, 0.25, 1, 0.5, -0.5, -0.25, 2, 1, 0.75, -1.5, 0.5],
  B: [0.1, -0.2, 0.3],
} as const;

function floatTensor(name: string, dims: number[], values: readonly number[]): onnx.ITensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: [...values] };
}

function valueInfo(name: string, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/**
 * Serialised ONNX model of a MatMul + Add + Relu graph (a few hundred bytes), for tests
 * and benchmarks that need a real model without downloading one.
 */
export function tinyModelBytes(): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: "ncn-agent",
    opsetImport: [{ domain: "", version: 13 }],
    graph: {
      name: "tiny",
      node: [
        { opType: "MatMul", input: ["x", "W"], output: ["h"], name: "matmul" },
        { opType: "Add", input: ["h", "B"], output: ["z"], name: "add" },
        { opType: "Relu", input: ["z"], output: ["y"], name: "relu" },
      ],
      initializer: [floatTensor("W", [4, 3], TINY_WEIGHTS.W), floatTensor("B", [3], TINY_WEIGHTS.B)],
      input: [valueInfo("x", ["batch", 4])],
      output: [valueInfo("y", ["batch", 3])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

export interface TinyModelOptions {
  id?: string;
  /** Where the bytes can be fetched (at least one). */
  sources: [string, ...string[]];
}

/** The descriptor of `tinyModelBytes()`: x float32 [batch, 4] -> y float32 [batch, 3]. */
export function tinyModelDescriptor(options: TinyModelOptions): ModelDescriptor {
  const bytes = tinyModelBytes();
  return {
    id: (options.id ?? "tiny-mlp") as ModelDescriptor["id"],
    sha256: sha256Hex(bytes) as Sha256,
    size: bytes.byteLength,
    runtime: "onnx",
    sources: options.sources,
    inputs: [{ name: "x", dtype: "float32", dims: ["batch", 4] }],
    outputs: [{ name: "y", dtype: "float32", dims: ["batch", 3] }],
    description: "MatMul + Add + Relu test model",
  };
}

/** What the tiny model computes, in plain JS, for checking real inference. */
export function tinyModelReference(x: Float32Array): Float32Array {
  const batch = x.length / 4;
  const y = new Float32Array(batch * 3);
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < 3; j++) {
      let s: number = TINY_WEIGHTS.B[j] ?? 0;
      for (let i = 0; i < 4; i++) s += (x[b * 4 + i] ?? 0) * (TINY_WEIGHTS.W[i * 3 + j] ?? 0);
      y[b * 3 + j] = Math.max(0, s);
    }
  }
  return y;
}
