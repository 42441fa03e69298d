import { onnx } from "onnx-proto";

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;
const INT64 = onnx.TensorProto.DataType.INT64;

export interface LookupEncoderOptions {
  /** Row-major [vocab, dims] token vectors. */
  matrix: Float32Array;
  dims: number;
  /** How the matrix is stored in the file (float16 halves it; the graph casts back to float32). */
  storage: "float32" | "float16";
  /** Also emit `sentence_embedding` (masked mean, then L2 norm), as sentence-transformers exports do. */
  sentenceEmbedding: boolean;
  /** Also take `token_type_ids` (unused), as BERT-family exports such as MiniLM do. */
  tokenTypeIds?: boolean;
  /** Graph name, kept in the file. */
  name?: string;
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): onnx.IValueInfoProto {
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

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits of each value, rounded to nearest even (as `Float16Array` does). */
export function float16Bits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i] ?? 0;
    const bits = f32Bits[0] ?? 0;
    const sign = (bits >>> 16) & 0x8000;
    const exp = (bits >>> 23) & 0xff;
    let mantissa = bits & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mantissa ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00;
      continue;
    }
    let shift = 13;
    let h: number;
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mantissa |= 0x800000;
      shift = 14 - e;
      h = mantissa >>> shift;
    } else {
      h = (e << 10) | (mantissa >>> 13);
    }
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    // A carry out of the mantissa raises the exponent, which is the right rounding.
    if (rest > halfway || (rest === halfway && h & 1)) h++;
    out[i] = sign | h;
  }
  return out;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * An encoder in the Hugging Face layout whose "hidden state" is a table lookup: inputs
 * `input_ids` and `attention_mask` (int64 [batch, seq]), output `last_hidden_state`
 * (float32 [batch, seq, dims]) and optionally `sentence_embedding` (float32 [batch, dims]).
 * The built-in word-vector model is one; tests use small ones to exercise the runtime's
 * own pooling the way a MiniLM export (no `sentence_embedding`) would.
 *
 * @example const bytes = lookupEncoderBytes({ matrix, dims: 100, sentenceEmbedding: true });
 */
export function lookupEncoderBytes(options: LookupEncoderOptions): Uint8Array {
  const { matrix, dims } = options;
  if (dims < 1 || matrix.length % dims !== 0) throw new Error("matrix length must be a multiple of dims");
  const half = options.storage === "float16";
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (!littleEndian) throw new Error("ONNX raw tensor data is little-endian; this host is not");
  const initializer: onnx.ITensorProto[] = [
    {
      name: "embeddings",
      dims: [matrix.length / dims, dims],
      dataType: half ? FLOAT16 : FLOAT,
      rawData: bytesOf(half ? float16Bits(matrix) : matrix),
    },
  ];
  const node: onnx.INodeProto[] = [
    {
      opType: "Gather",
      input: ["embeddings", "input_ids"],
      output: [half ? "token_vectors" : "last_hidden_state"],
      name: "lookup",
      attribute: [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
    },
  ];
  if (half) {
    node.push({
      opType: "Cast",
      input: ["token_vectors"],
      output: ["last_hidden_state"],
      name: "to_float",
      attribute: [{ name: "to", type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }],
    });
  }
  const output = [valueInfo("last_hidden_state", FLOAT, ["batch", "sequence", dims])];
  if (options.sentenceEmbedding) {
    initializer.push(
      { name: "axis_last", dims: [1], dataType: INT64, int64Data: [-1] },
      { name: "axis_seq", dims: [1], dataType: INT64, int64Data: [1] },
      { name: "min_count", dims: [], dataType: FLOAT, floatData: [1e-9] },
      { name: "min_norm", dims: [], dataType: FLOAT, floatData: [1e-12] },
    );
    const keep = (v: number): onnx.IAttributeProto => ({
      name: "keepdims",
      type: onnx.AttributeProto.AttributeType.INT,
      i: v,
    });
    node.push(
      {
        opType: "Cast",
        input: ["attention_mask"],
        output: ["mask"],
        name: "mask_float",
        attribute: [{ name: "to", type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }],
      },
      { opType: "Unsqueeze", input: ["mask", "axis_last"], output: ["mask3"], name: "mask_expand" },
      { opType: "Mul", input: ["last_hidden_state", "mask3"], output: ["masked"], name: "mask_apply" },
      {
        opType: "ReduceSum",
        input: ["masked", "axis_seq"],
        output: ["summed"],
        name: "sum",
        attribute: [keep(0)],
      },
      {
        opType: "ReduceSum",
        input: ["mask3", "axis_seq"],
        output: ["count"],
        name: "count",
        attribute: [keep(0)],
      },
      { opType: "Max", input: ["count", "min_count"], output: ["count_safe"], name: "count_floor" },
      { opType: "Div", input: ["summed", "count_safe"], output: ["mean"], name: "mean" },
      {
        opType: "ReduceL2",
        input: ["mean"],
        output: ["norm"],
        name: "norm",
        attribute: [{ name: "axes", type: onnx.AttributeProto.AttributeType.INTS, ints: [1] }, keep(1)],
      },
      { opType: "Max", input: ["norm", "min_norm"], output: ["norm_safe"], name: "norm_floor" },
      { opType: "Div", input: ["mean", "norm_safe"], output: ["sentence_embedding"], name: "normalize" },
    );
    output.push(valueInfo("sentence_embedding", FLOAT, ["batch", dims]));
  }
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: "ncn-runtime",
    opsetImport: [{ domain: "", version: 13 }],
    graph: {
      name: options.name ?? "lookup-encoder",
      node,
      initializer,
      input: [
        valueInfo("input_ids", INT64, ["batch", "sequence"]),
        valueInfo("attention_mask", INT64, ["batch", "sequence"]),
        ...(options.tokenTypeIds ? [valueInfo("token_type_ids", INT64, ["batch", "sequence"])] : []),
      ],
      output,
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
