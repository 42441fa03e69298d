// Run as its own process by `memory-limit.test.ts` (the cap is process-wide): caps the model
// memory at argv[2] MiB through the runtime, mounts the attack and prints what happened as JSON.
import type { Tensor } from "@ncn/protocol";
import { RuntimeError } from "../errors.ts";
import { OnnxRuntime } from "../runtimes/onnx/onnx-runtime.ts";
import { dataLimit, dataSegmentBytes } from "../system/memory-limit.ts";
import { expandSumModel } from "./limit-models.ts";
import { tinyModelBytes, tinyModelDescriptor } from "./tiny-model.ts";

const capMb = Number(process.argv[2]);
const side = Number(process.argv[3]);
const x1: Record<string, Tensor> = { x: { dtype: "float32", dims: [1], data: new Float32Array([2]) } };

async function outcome(p: Promise<Record<string, Tensor>>) {
  try {
    const out = await p;
    return { code: "resolved", y: [...(out.y?.data ?? [])] };
  } catch (e) {
    return e instanceof RuntimeError
      ? { code: e.code, message: e.message, details: e.details }
      : { code: `untyped: ${String(e)}` };
  }
}

const rt = await OnnxRuntime.create({
  inlineTinyModels: false,
  maxMemoryBytes: capMb * 2 ** 20,
  maxOutputBytes: 2 ** 20,
});
const attack = expandSumModel([side, side]);
const attacked = await outcome(rt.run(attack.descriptor, async () => new Uint8Array(attack.bytes), x1));
// Within the cap: 1024 x 1024 float32 (4 MiB) in between, one number out.
const fits = expandSumModel([1024, 1024]);
const fine = await outcome(rt.run(fits.descriptor, async () => new Uint8Array(fits.bytes), x1));
const tiny = { bytes: tinyModelBytes(), descriptor: tinyModelDescriptor({ sources: ["file:/unused.onnx"] }) };
const after = await outcome(
  rt.run(tiny.descriptor, async () => new Uint8Array(tiny.bytes), {
    x: { dtype: "float32", dims: [1, 4], data: new Float32Array([1, 2, 3, 4]) },
  }),
);
process.stdout.write(
  `${JSON.stringify({ cap: rt.memoryCap, soft: dataLimit().soft, dataNow: dataSegmentBytes(), attacked, fine, after })}\n`,
);
await rt.close();
