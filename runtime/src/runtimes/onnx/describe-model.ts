import type { Dim, ModelDescriptor, ModelId, Sha256, TensorSpec } from "@ncn/protocol";
import { DTYPES } from "@ncn/protocol";
import { RuntimeError } from "../../errors.ts";
import type { OnnxRuntime } from "./onnx-runtime.ts";
import { sha256Hex } from "./sha256.ts";

type Meta = { name: string; isTensor: boolean; type?: string; shape?: readonly (number | string)[] };

function axisName(raw: string | number, used: Map<string, string>, index: number): string {
  const key = String(raw);
  const known = used.get(key);
  if (known) return known;
  let name = key
    .replace(/[^A-Za-z0-9_]/g, "_")
    .replace(/^([^A-Za-z_])/, "_$1")
    .slice(0, 32);
  if (name === "" || typeof raw === "number") name = `d${index}`;
  used.set(key, name);
  return name;
}

function specs(list: readonly Meta[], used: Map<string, string>): TensorSpec[] {
  let n = 0;
  return list.map((m) => {
    if (!m.isTensor || !m.type || !(DTYPES as readonly string[]).includes(m.type)) {
      throw new RuntimeError(
        "INVALID_INPUT",
        `tensor "${m.name}" has a type the protocol does not carry (${m.type})`,
      );
    }
    const dims: Dim[] = (m.shape ?? []).map((d) =>
      typeof d === "number" && d >= 0 ? d : axisName(d, used, n++),
    );
    return { name: m.name, dtype: m.type as TensorSpec["dtype"], dims };
  });
}

/**
 * A descriptor read off an ONNX file: its hash and size, and the inputs and outputs the
 * graph declares (unknown sizes become symbolic axes). Handy to register a model or
 * to run one from the command line.
 */
export async function describeModel(
  runtime: OnnxRuntime,
  id: string,
  bytes: Uint8Array,
  sources: [string, ...string[]],
): Promise<ModelDescriptor> {
  let session: Awaited<ReturnType<typeof runtime.openSession>>;
  try {
    session = await runtime.openSession(bytes, id);
  } catch (e) {
    if (e instanceof RuntimeError) throw e;
    throw new RuntimeError("INVALID_INPUT", `not a loadable ONNX model: ${(e as Error).message}`, {
      cause: e,
    });
  }
  try {
    const used = new Map<string, string>();
    return {
      id: id as ModelId,
      sha256: sha256Hex(bytes) as Sha256,
      size: bytes.byteLength,
      runtime: "onnx",
      sources,
      inputs: specs(session.inputMetadata as readonly Meta[], used),
      outputs: specs(session.outputMetadata as readonly Meta[], new Map()),
    };
  } finally {
    await session.release();
  }
}
