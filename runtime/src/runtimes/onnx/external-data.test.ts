import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { onnx } from "onnx-proto";
import { RuntimeError } from "../../errors.ts";
import { PPOCR_CLS, PPOCR_V4_DET, PPOCR_V4_REC } from "../../ocr/builtin-models.ts";
import { resolveNpmSource } from "../../store/npm-source.ts";
import { externalDataModelBytes } from "../../testing/external-data-model.ts";
import { tinyModelBytes } from "../../testing/tiny-model.ts";
import { assertSelfContained, findExternalData, MalformedModelError } from "./external-data.ts";
import { probeModelBytes } from "./probe-model.ts";

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;
const GRAPH = onnx.AttributeProto.AttributeType.GRAPH;

function ext(name: string, location = "agent.key"): onnx.ITensorProto {
  return {
    name,
    dims: [1],
    dataType: FLOAT,
    dataLocation: EXTERNAL,
    externalData: [{ key: "location", value: location }],
  };
}

function model(graph: onnx.IGraphProto, more: Partial<onnx.IModelProto> = {}): Uint8Array {
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 13 }], graph, ...more }),
  ).finish();
}

/** A graph `depth` If nodes deep whose innermost then-branch holds `tensor`. */
function nested(depth: number, tensor: onnx.ITensorProto): onnx.IGraphProto {
  let g: onnx.IGraphProto = { name: "g0", initializer: [tensor] };
  for (let i = 1; i <= depth; i++) {
    g = {
      name: `g${i}`,
      node: [{ opType: "If", name: `if${i}`, attribute: [{ name: "then_branch", type: GRAPH, g }] }],
    };
  }
  return g;
}

function rejected(bytes: Uint8Array): RuntimeError {
  try {
    assertSelfContained(bytes, "m");
  } catch (e) {
    expect(e).toBeInstanceOf(RuntimeError);
    expect((e as RuntimeError).code).toBe("MODEL_REJECTED");
    expect((e as RuntimeError).status).toBe(422);
    return e as RuntimeError;
  }
  throw new Error("expected MODEL_REJECTED");
}

describe("findExternalData", () => {
  test("self-contained models pass: the tiny model, the probe model and the real PaddleOCR models", () => {
    expect(findExternalData(tinyModelBytes())).toEqual([]);
    expect(findExternalData(probeModelBytes())).toEqual([]);
    for (const m of [PPOCR_V4_DET, PPOCR_V4_REC, PPOCR_CLS]) {
      const path = resolveNpmSource(m.sources[0] ?? "");
      if (!path) throw new Error(`${m.id} is not installed`);
      const bytes = new Uint8Array(readFileSync(path));
      const t0 = performance.now();
      expect(findExternalData(bytes)).toEqual([]);
      const ms = performance.now() - t0;
      // Weights are skipped, not decoded: a 10 MB model is walked in milliseconds.
      expect(ms).toBeLessThan(200);
      expect(() => assertSelfContained(bytes, m.id)).not.toThrow();
    }
  });

  test("finds a main-graph initializer naming a file, and the file it names", () => {
    const found = findExternalData(
      externalDataModelBytes({ location: ".local/share/ncn-agent/agent.key", length: 64 }),
    );
    expect(found).toEqual([
      { where: 'graph "steal" > initializer "W"', location: ".local/share/ncn-agent/agent.key" },
    ]);
  });

  test("finds an initializer inside an If branch, and one nested many subgraphs deep", () => {
    const found = findExternalData(externalDataModelBytes({ location: "k", length: 4, place: "subgraph" }));
    expect(found.map((f) => f.where)).toEqual([
      'graph "steal-in-branch" > node "branch" (If) > attribute "then_branch" > g "then" > initializer "W"',
    ]);
    const deep = findExternalData(model(nested(20, ext("deep"))));
    expect(deep).toHaveLength(1);
    expect(deep[0]?.where).toEndWith('g "g0" > initializer "deep"');
  });

  test("finds EXTERNAL without entries, and entries without EXTERNAL", () => {
    const locationOnly: onnx.ITensorProto = { name: "a", dims: [1], dataType: FLOAT, dataLocation: EXTERNAL };
    const entriesOnly: onnx.ITensorProto = {
      name: "b",
      dims: [1],
      dataType: FLOAT,
      externalData: [{ key: "location", value: "x" }],
    };
    const found = findExternalData(model({ name: "g", initializer: [locationOnly, entriesOnly] }));
    expect(found.map((f) => f.where)).toEqual(['graph "g" > initializer "a"', 'graph "g" > initializer "b"']);
  });

  test("finds tensors in node attributes: Constant value, tensor lists, sparse values and indices", () => {
    const sparse = (values: onnx.ITensorProto, indices: onnx.ITensorProto): onnx.ISparseTensorProto => ({
      values,
      indices,
      dims: [4],
    });
    const inline = (name: string): onnx.ITensorProto => ({
      name,
      dims: [1],
      dataType: FLOAT,
      floatData: [0],
    });
    const found = findExternalData(
      model({
        name: "g",
        node: [
          { opType: "Constant", name: "c", attribute: [{ name: "value", t: ext("t") }] },
          { opType: "X", name: "l", attribute: [{ name: "list", tensors: [inline("ok"), ext("listed")] }] },
          {
            opType: "Constant",
            name: "s",
            attribute: [{ name: "sparse_value", sparseTensor: sparse(ext("sv"), inline("si")) }],
          },
          {
            opType: "X",
            name: "ss",
            attribute: [{ name: "many", sparseTensors: [sparse(inline("v"), ext("ix"))] }],
          },
          {
            opType: "X",
            name: "gs",
            attribute: [{ name: "bodies", graphs: [{ name: "b", initializer: [ext("gw")] }] }],
          },
        ],
        sparseInitializer: [sparse(ext("spv"), inline("spi"))],
      }),
    );
    expect(found.map((f) => f.where)).toEqual([
      'graph "g" > node "c" (Constant) > attribute "value" > t "t"',
      'graph "g" > node "l" (X) > attribute "list" > tensors "listed"',
      'graph "g" > node "s" (Constant) > attribute "sparse_value" > sparse_tensor > values "sv"',
      'graph "g" > node "ss" (X) > attribute "many" > sparse_tensors > indices "ix"',
      'graph "g" > node "gs" (X) > attribute "bodies" > graphs "b" > initializer "gw"',
      'graph "g" > sparse_initializer > values "spv"',
    ]);
  });

  test("finds tensors in model-local functions and training graphs", () => {
    const bytes = model(
      { name: "g" },
      {
        functions: [
          {
            name: "f",
            node: [{ opType: "Constant", name: "fc", attribute: [{ name: "value", t: ext("ft") }] }],
          },
        ],
        trainingInfo: [{ initialization: { name: "init", initializer: [ext("ti")] } }],
      },
    );
    expect(findExternalData(bytes).map((f) => f.where)).toEqual([
      'training_info > initialization "init" > initializer "ti"',
      'function "f" > node "fc" (Constant) > attribute "value" > t "ft"',
    ]);
  });

  test("finds a default attribute of a function (attribute_proto, field 11), unknown to older onnx-proto", () => {
    const attribute = onnx.AttributeProto.encode({ name: "alpha", t: ext("fa") }).finish();
    const fn = onnx.FunctionProto.encode({ name: "f" })
      .uint32((11 << 3) | 2)
      .bytes(attribute)
      .finish();
    const bytes = onnx.ModelProto.encode({ irVersion: 8 })
      .uint32((25 << 3) | 2)
      .bytes(fn)
      .finish();
    expect(findExternalData(bytes).map((f) => f.where)).toEqual([
      'function "f" > attribute "alpha" > t "fa"',
    ]);
  });

  test("bytes it cannot walk whole are malformed: truncated, bad wire types, ORT format, nested too deep", () => {
    const good = externalDataModelBytes({ location: "k", length: 4 });
    for (const bad of [
      good.subarray(0, good.byteLength - 3),
      new Uint8Array([0x3b, 0x01]), // field 7, wire type 3 (group)
      new Uint8Array([0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f]), // graph of 4 GiB in 6 bytes
      new Uint8Array([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // 11-byte varint
      new Uint8Array([0x10, 0x00, 0x00, 0x00, 0x4f, 0x52, 0x54, 0x4d, 0, 0, 0, 0]), // "ORTM" flatbuffer
      model(nested(40, ext("deep"))), // 120 nested messages
    ]) {
      expect(() => findExternalData(bad)).toThrow(MalformedModelError);
      expect(rejected(bad).message).toContain("not an ONNX model that can be checked");
    }
  });
});

describe("assertSelfContained", () => {
  test("refuses with MODEL_REJECTED, naming where the tensor is and nothing from the disk", () => {
    const e = rejected(externalDataModelBytes({ location: "agent.key", length: 32, place: "subgraph" }));
    expect(e.message).toContain('initializer "W"');
    expect(e.message).not.toContain("agent.key");
    expect(e.details).toEqual({
      model: "m",
      reason: "external_data",
      tensors: [
        'graph "steal-in-branch" > node "branch" (If) > attribute "then_branch" > g "then" > initializer "W"',
      ],
    });
  });
});
