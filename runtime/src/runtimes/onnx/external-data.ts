import { RuntimeError } from "../../errors.ts";

/**
 * Where a tensor that keeps its data outside the model sits, e.g. `graph "g" > initializer "W"`
 * or `graph "g" > node "if0" (If) > attribute "then_branch" > g "then" > initializer "W"`.
 */
export interface ExternalTensor {
  where: string;
  /** The `location` entry the tensor names, when it has one (capped at 200 characters). */
  location?: string;
}

/** Why a model's bytes are not an ONNX protobuf this check can vouch for. */
export class MalformedModelError extends Error {
  override name = "MalformedModelError";
}

/** The ONNX messages that can hold a tensor, directly or further down. */
type Kind = "model" | "training" | "function" | "graph" | "node" | "attribute" | "sparse" | "tensor";

/**
 * Field numbers (onnx.proto) of the sub-messages that can lead to a tensor. Everything else
 * is skipped unread, so walking a model costs a few steps per field, not per weight.
 */
const CHILDREN: Record<Kind, Readonly<Record<number, Kind>>> = {
  model: { 7: "graph", 20: "training", 25: "function" },
  training: { 1: "graph", 2: "graph" },
  function: { 7: "node", 11: "attribute" },
  graph: { 1: "node", 5: "tensor", 15: "sparse" },
  node: { 5: "attribute" },
  attribute: { 5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse" },
  sparse: { 1: "tensor", 2: "tensor" },
  tensor: {},
};

/** The field holding each message's name, used to say where a tensor is. */
const NAME_FIELD: Partial<Record<Kind, number>> = { graph: 2, node: 3, attribute: 1, function: 1, tensor: 8 };
const NODE_OP_TYPE = 4;
const TENSOR_EXTERNAL_DATA = 13;
const TENSOR_DATA_LOCATION = 14;

/** What each sub-message is called in a path, by `<parent kind>.<field>`. */
const ROLE: Readonly<Record<string, string>> = {
  "model.7": "graph",
  "model.20": "training_info",
  "model.25": "function",
  "training.1": "initialization",
  "training.2": "algorithm",
  "function.7": "node",
  "function.11": "attribute",
  "graph.1": "node",
  "graph.5": "initializer",
  "graph.15": "sparse_initializer",
  "node.5": "attribute",
  "attribute.5": "t",
  "attribute.6": "g",
  "attribute.10": "tensors",
  "attribute.11": "graphs",
  "attribute.22": "sparse_tensor",
  "attribute.23": "sparse_tensors",
  "sparse.1": "values",
  "sparse.2": "indices",
};

/**
 * onnxruntime's protobuf parser stops at 100 nested messages; a model nested deeper cannot
 * load anyway, and refusing it keeps this walk's recursion bounded.
 */
const MAX_DEPTH = 100;

const utf8 = new TextDecoder("utf-8", { fatal: false });

interface Field {
  number: number;
  wireType: number;
  /** The value of a varint field. */
  varint?: number;
  /** [start, end) of a length-delimited field's bytes. */
  span?: [number, number];
}

/** Reads protobuf fields one by one between two offsets, checking every length. */
class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  field(): Field {
    const tag = this.#varint();
    const number = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (number === 0) throw new MalformedModelError(`field number 0 at byte ${this.pos}`);
    switch (wireType) {
      case 0:
        return { number, wireType, varint: this.#varint() };
      case 1:
        this.#advance(8);
        return { number, wireType };
      case 2: {
        const length = this.#varint();
        const start = this.pos;
        this.#advance(length);
        return { number, wireType, span: [start, this.pos] };
      }
      case 5:
        this.#advance(4);
        return { number, wireType };
      default:
        // Groups (3, 4) are not used by onnx.proto; 6 and 7 do not exist.
        throw new MalformedModelError(`wire type ${wireType} at byte ${this.pos}`);
    }
  }

  #varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new MalformedModelError("truncated varint");
      const b = this.bytes[this.pos++] as number;
      // Past 2^53 precision is lost: only lengths, tags and enums are ever used.
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new MalformedModelError("varint longer than 10 bytes");
  }

  #advance(n: number): void {
    if (n > this.end - this.pos)
      throw new MalformedModelError(`field runs past its message at byte ${this.pos}`);
    this.pos += n;
  }
}

function text(bytes: Uint8Array, [start, end]: [number, number], max: number): string {
  return utf8.decode(bytes.subarray(start, Math.min(end, start + max * 4))).slice(0, max);
}

/** The key and value of one `external_data` entry (StringStringEntryProto). */
function entry(bytes: Uint8Array, [start, end]: [number, number]): { key: string; value: string } {
  const r = new Reader(bytes, start, end);
  let key = "";
  let value = "";
  while (!r.done) {
    const f = r.field();
    if (f.span && f.number === 1) key = text(bytes, f.span, 200);
    if (f.span && f.number === 2) value = text(bytes, f.span, 200);
  }
  return { key, value };
}

function walk(
  bytes: Uint8Array,
  kind: Kind,
  [start, end]: [number, number],
  role: string,
  parents: readonly string[],
  found: ExternalTensor[],
  ops?: Set<string>,
): void {
  if (parents.length >= MAX_DEPTH)
    throw new MalformedModelError(`messages nested more than ${MAX_DEPTH} deep`);
  const r = new Reader(bytes, start, end);
  const children: [Kind, string, [number, number]][] = [];
  let name: string | undefined;
  let opType: string | undefined;
  let external = false;
  let location: string | undefined;
  while (!r.done) {
    const f = r.field();
    const child = CHILDREN[kind][f.number];
    if (child) {
      if (!f.span) throw new MalformedModelError(`${kind} field ${f.number} is not a message`);
      children.push([child, ROLE[`${kind}.${f.number}`] ?? child, f.span]);
    } else if (kind === "tensor" && f.number === TENSOR_DATA_LOCATION) {
      if (f.varint === undefined) throw new MalformedModelError("tensor data_location is not a varint");
      // Anything but DEFAULT (0): EXTERNAL (1), and whatever onnx may add later.
      if (f.varint !== 0) external = true;
    } else if (kind === "tensor" && f.number === TENSOR_EXTERNAL_DATA) {
      if (!f.span) throw new MalformedModelError("tensor external_data is not a message");
      external = true;
      const e = entry(bytes, f.span);
      if (e.key === "location") location = e.value;
    } else if (f.span && f.number === NAME_FIELD[kind]) {
      name = text(bytes, f.span, 64);
    } else if (f.span && kind === "node" && f.number === NODE_OP_TYPE) {
      opType = text(bytes, f.span, 64);
    }
  }
  if (opType) ops?.add(opType);
  const here = `${role}${name ? ` "${name}"` : ""}${opType ? ` (${opType})` : ""}`;
  const path = kind === "model" ? parents : [...parents, here];
  if (external) found.push({ where: path.join(" > "), ...(location === undefined ? {} : { location }) });
  for (const [child, childRole, span] of children) walk(bytes, child, span, childRole, path, found, ops);
}

/** The first bytes of a model in onnxruntime's own (flatbuffers) format, at offset 4. */
const ORT_FORMAT_ID = [0x4f, 0x52, 0x54, 0x4d]; // "ORTM"

/**
 * Every tensor in an ONNX model that keeps its data outside the model (`data_location =
 * EXTERNAL` or `external_data` entries): graph initializers, sparse initializers, tensors in
 * node attributes (`Constant`), and the same inside subgraphs (If/Loop/Scan bodies), local
 * functions and training graphs. A pure walk over the protobuf wire format: weights are
 * skipped, not decoded. Throws `MalformedModelError` when the bytes are not a protobuf it can
 * walk whole (so nothing can hide from it), or are in onnxruntime's flatbuffers format.
 *
 * @example findExternalData(await Bun.file("model.onnx").bytes()) // [] for a self-contained model
 */
export function findExternalData(model: Uint8Array): ExternalTensor[] {
  if (model.byteLength >= 8 && ORT_FORMAT_ID.every((b, i) => model[4 + i] === b)) {
    throw new MalformedModelError("onnxruntime (ORT) format; only ONNX protobuf models are run");
  }
  const found: ExternalTensor[] = [];
  walk(model, "model", [0, model.byteLength], "model", [], found);
  return found;
}

/**
 * The op types a model uses, in its graph, subgraphs and local functions (same walk as
 * `findExternalData`; throws `MalformedModelError` likewise).
 */
export function modelOpTypes(model: Uint8Array): Set<string> {
  const ops = new Set<string>();
  walk(model, "model", [0, model.byteLength], "model", [], [], ops);
  return ops;
}

/**
 * Refuses, with `MODEL_REJECTED`, a model that keeps any tensor's data outside itself or that
 * cannot be checked: onnxruntime would read such data from a path the model names, relative
 * to the working directory when a session is built from bytes. Run before any session exists.
 *
 * @example assertSelfContained(bytes, "tiny-mlp"); // throws RuntimeError<"MODEL_REJECTED">
 */
export function assertSelfContained(model: Uint8Array, modelId: string): void {
  let found: ExternalTensor[];
  try {
    found = findExternalData(model);
  } catch (e) {
    if (!(e instanceof MalformedModelError)) throw e;
    throw new RuntimeError(
      "MODEL_REJECTED",
      `model ${modelId} is not an ONNX model that can be checked: ${e.message}`,
      {
        details: { model: modelId, reason: "malformed" },
      },
    );
  }
  if (found.length === 0) return;
  const first = found[0] as ExternalTensor;
  throw new RuntimeError(
    "MODEL_REJECTED",
    `model ${modelId} keeps tensor data outside the model (${found.length} tensor(s), first: ${first.where}); models must be self-contained`,
    {
      details: { model: modelId, reason: "external_data", tensors: found.slice(0, 8).map((t) => t.where) },
    },
  );
}
