// Run as its own process by `onnx-reexecutor.test.ts` (the memory cap is process-wide): a
// validator's re-executor, capped at argv[2] MiB, re-runs a model whose run allocates a
// 1 GiB intermediate, then the tiny model; prints the outcomes as JSON.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Tensor } from "@ncn/protocol";
import { RuntimeError, STRICT_SOURCE_POLICY } from "@ncn/runtime";
import { expandSumModel, tinyModelBytes, tinyModelDescriptor } from "@ncn/runtime/testing";
import { lazyOnnxReexecutor } from "../reexec/onnx-reexecutor.ts";

const [capMb, dir] = [Number(process.argv[2]), String(process.argv[3])];
const attack = expandSumModel([16384, 16384]);
writeFileSync(join(dir, "expand-sum.onnx"), attack.bytes);
writeFileSync(join(dir, "tiny.onnx"), tinyModelBytes());
const rx = lazyOnnxReexecutor(
  join(dir, "cache"),
  { ...STRICT_SOURCE_POLICY, localDirs: [dir] },
  capMb * 2 ** 20,
);

async function outcome(p: Promise<Record<string, Tensor>>) {
  try {
    const out = await p;
    return { code: "resolved", y: [...(Object.values(out)[0]?.data ?? [])].map(Number) };
  } catch (e) {
    return e instanceof RuntimeError
      ? { code: e.code, details: e.details }
      : { code: `untyped: ${String(e)}` };
  }
}

const attacked = await outcome(
  rx.run(
    { ...attack.descriptor, sources: [`file:${join(dir, "expand-sum.onnx")}`] },
    {
      x: { dtype: "float32", dims: [1], data: new Float32Array([2]) },
    },
  ),
);
const after = await outcome(
  rx.run(tinyModelDescriptor({ sources: [`file:${join(dir, "tiny.onnx")}`] }), {
    x: { dtype: "float32", dims: [1, 4], data: new Float32Array([1, 2, 3, 4]) },
  }),
);
process.stdout.write(`${JSON.stringify({ attacked, after })}\n`);
await rx.close();
