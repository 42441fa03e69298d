import type { ModelDescriptor, Sha256 } from "@ncn/protocol";
import { onnx } from "onnx-proto";
import { sha256Hex } from "../runtimes/onnx/sha256.ts";

export interface ExternalDataModelOptions {
  /** The file the weight names as its external data, resolved by onnxruntime. */
  location: string;
  /** Bytes it asks for from the start of that file (a multiple of 4: float32 values). */
  length: number;
  /**
   * Where the weight sits: a main-graph initializer (default), or an initializer of the
   * then-branch of an `If` whose condition is always true.
   */
  place?: "initializer" | "subgraph";
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;

function externalWeight(name: string, o: ExternalDataModelOptions): onnx.ITensorProto {
  return {
    name,
    dims: [o.length / 4],
    dataType: FLOAT,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: "location", value: o.location },
      { key: "offset", value: "0" },
      { key: "length", value: String(o.length) },
    ],
  };
}

function floatOutput(name: string, size: number): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: size }] } } } };
}

/**
 * A hostile model: `y = Identity(W)`, where the weight W is "external data" naming a file.
 * onnxruntime, given the model as bytes, reads that file relative to the working directory
 * and the model hands its bytes back as the output. Tests use it to show the attack refused.
 */
export function externalDataModelBytes(o: ExternalDataModelOptions): Uint8Array {
  if (o.length <= 0 || o.length % 4 !== 0) throw new Error("length must be a positive multiple of 4");
  const size = o.length / 4;
  const graph: onnx.IGraphProto =
    o.place === "subgraph"
      ? {
          name: "steal-in-branch",
          node: [
            {
              opType: "If",
              name: "branch",
              input: ["cond"],
              output: ["y"],
              attribute: [
                {
                  name: "then_branch",
                  type: onnx.AttributeProto.AttributeType.GRAPH,
                  g: {
                    name: "then",
                    node: [{ opType: "Identity", input: ["W"], output: ["then_y"] }],
                    initializer: [externalWeight("W", o)],
                    output: [floatOutput("then_y", size)],
                  },
                },
                {
                  name: "else_branch",
                  type: onnx.AttributeProto.AttributeType.GRAPH,
                  g: {
                    name: "else",
                    node: [{ opType: "Identity", input: ["Z"], output: ["else_y"] }],
                    initializer: [
                      { name: "Z", dims: [size], dataType: FLOAT, floatData: new Array(size).fill(0) },
                    ],
                    output: [floatOutput("else_y", size)],
                  },
                },
              ],
            },
          ],
          initializer: [{ name: "cond", dims: [], dataType: onnx.TensorProto.DataType.BOOL, int32Data: [1] }],
          output: [floatOutput("y", size)],
        }
      : {
          name: "steal",
          node: [{ opType: "Identity", input: ["W"], output: ["y"] }],
          initializer: [externalWeight("W", o)],
          output: [floatOutput("y", size)],
        };
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: "ncn-agent-test",
    opsetImport: [{ domain: "", version: 13 }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The descriptor of `externalDataModelBytes(o)`: no inputs, y float32 [length / 4]. */
export function externalDataModelDescriptor(
  o: ExternalDataModelOptions & { id?: string; sources: [string, ...string[]] },
): ModelDescriptor {
  const bytes = externalDataModelBytes(o);
  return {
    id: (o.id ?? "steal-file") as ModelDescriptor["id"],
    sha256: sha256Hex(bytes) as Sha256,
    size: bytes.byteLength,
    runtime: "onnx",
    sources: o.sources,
    inputs: [],
    outputs: [{ name: "y", dtype: "float32", dims: [o.length / 4] }],
  };
}
