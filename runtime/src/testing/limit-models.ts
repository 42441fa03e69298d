import type { ModelDescriptor, Sha256 } from "@ncn/protocol";
import { onnx } from "onnx-proto";
import { sha256Hex } from "../runtimes/onnx/sha256.ts";

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const BOOL = onnx.TensorProto.DataType.BOOL;

function info(name: string, elemType: number, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function encode(graph: onnx.IGraphProto): Uint8Array {
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 7,
      producerName: "ncn-test",
      opsetImport: [{ domain: "", version: 13 }],
      graph,
    }),
  ).finish();
}

function descriptor(id: string, bytes: Uint8Array, outputDims: (number | string)[]): ModelDescriptor {
  return {
    id: id as ModelDescriptor["id"],
    sha256: sha256Hex(bytes) as Sha256,
    size: bytes.byteLength,
    runtime: "onnx",
    sources: ["file:/unused.onnx"],
    inputs: [{ name: "x", dtype: "float32", dims: [1] }],
    outputs: [{ name: "y", dtype: "float32", dims: outputDims }],
  };
}

/**
 * y = x + trips, one Loop iteration at a time: a model that runs as long as `trips` makes it
 * (about 10^8 iterations take minutes). Its size is a few hundred bytes.
 */
export function slowLoopModel(trips: number): { bytes: Uint8Array; descriptor: ModelDescriptor } {
  const body: onnx.IGraphProto = {
    name: "body",
    node: [
      { opType: "Identity", input: ["cond_in"], output: ["cond_out"] },
      { opType: "Add", input: ["v_in", "one"], output: ["v_out"] },
    ],
    initializer: [{ name: "one", dims: [1], dataType: FLOAT, floatData: [1] }],
    input: [info("i", INT64, []), info("cond_in", BOOL, []), info("v_in", FLOAT, [1])],
    output: [info("cond_out", BOOL, []), info("v_out", FLOAT, [1])],
  };
  const bytes = encode({
    name: "slow-loop",
    node: [
      {
        opType: "Loop",
        input: ["trips", "cond", "x"],
        output: ["y"],
        attribute: [{ name: "body", type: onnx.AttributeProto.AttributeType.GRAPH, g: body }],
      },
    ],
    initializer: [
      { name: "trips", dims: [], dataType: INT64, int64Data: [trips] },
      { name: "cond", dims: [], dataType: BOOL, int32Data: [1] },
    ],
    input: [info("x", FLOAT, [1])],
    output: [info("y", FLOAT, [1])],
  });
  return { bytes, descriptor: descriptor("slow-loop", bytes, [1]) };
}

/**
 * y = x broadcast to `shape` (Expand): a model of a few hundred bytes whose output is as large
 * as `shape` says. With `declared`, the graph states the output's shape; otherwise it is symbolic.
 */
export function expandModel(
  shape: number[],
  declared: boolean,
): { bytes: Uint8Array; descriptor: ModelDescriptor } {
  const dims = declared ? shape : shape.map((_, i) => `d${i}`);
  const bytes = encode({
    name: "expand",
    node: [{ opType: "Expand", input: ["x", "shape"], output: ["y"] }],
    initializer: [{ name: "shape", dims: [shape.length], dataType: INT64, int64Data: shape }],
    input: [info("x", FLOAT, [1])],
    output: [info("y", FLOAT, dims)],
  });
  return { bytes, descriptor: descriptor(`expand-${declared ? "declared" : "symbolic"}`, bytes, dims) };
}

/**
 * y = ReduceSum(x broadcast to `shape`): a one-number answer whose run allocates the whole
 * broadcast tensor in between (4 bytes per element of `shape`). The output limit never sees it.
 */
export function expandSumModel(shape: number[]): { bytes: Uint8Array; descriptor: ModelDescriptor } {
  const bytes = encode({
    name: "expand-sum",
    node: [
      { opType: "Expand", input: ["x", "shape"], output: ["big"] },
      {
        opType: "ReduceSum",
        input: ["big"],
        output: ["y"],
        attribute: [{ name: "keepdims", type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
      },
    ],
    initializer: [{ name: "shape", dims: [shape.length], dataType: INT64, int64Data: shape }],
    input: [info("x", FLOAT, [1])],
    output: [info("y", FLOAT, [])],
  });
  return {
    bytes,
    descriptor: {
      ...descriptor("expand-sum", bytes, []),
      outputs: [{ name: "y", dtype: "float32", dims: [] }],
    },
  };
}
