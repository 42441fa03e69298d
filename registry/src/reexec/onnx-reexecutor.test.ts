import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RuntimeError, STRICT_SOURCE_POLICY } from "@ncn/runtime";
import {
  externalDataModelBytes,
  externalDataModelDescriptor,
  tinyModelBytes,
  tinyModelDescriptor,
} from "@ncn/runtime/testing";
import { lazyOnnxReexecutor } from "./onnx-reexecutor.ts";

const root = mkdtempSync(join(tmpdir(), "ncn-reexec-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test("a validator re-running a model whose weights name a file beside it refuses with MODEL_REJECTED and returns nothing", async () => {
  // The validator runs next to its peer key, where a model could name it.
  const home = join(root, "node");
  mkdirSync(home);
  writeFileSync(join(home, "peer.key"), new Uint8Array(16).fill(0x42));
  const models = join(root, "published");
  mkdirSync(models);
  writeFileSync(join(models, "tiny.onnx"), tinyModelBytes());
  const rx = lazyOnnxReexecutor(join(root, "models"), { ...STRICT_SOURCE_POLICY, localDirs: [models] });
  const before = process.cwd();
  process.chdir(home);
  try {
    // The re-executor works: the honest model runs.
    const tiny = tinyModelDescriptor({ sources: [`file:${join(models, "tiny.onnx")}`] });
    const x = new Float32Array([1, 2, 3, 4]);
    expect((await rx.run(tiny, { x: { dtype: "float32", dims: [1, 4], data: x } })).y?.dims).toEqual([1, 3]);
    for (const place of ["initializer", "subgraph"] as const) {
      const steal = { location: "peer.key", length: 16, place };
      const file = join(models, `steal-${place}.onnx`);
      writeFileSync(file, externalDataModelBytes(steal));
      let err: unknown;
      let out: unknown;
      try {
        out = await rx.run(externalDataModelDescriptor({ ...steal, sources: [`file:${file}`] }), {});
      } catch (e) {
        err = e;
      }
      expect(out).toBeUndefined();
      expect(err).toBeInstanceOf(RuntimeError);
      expect((err as RuntimeError).code).toBe("MODEL_REJECTED");
    }
  } finally {
    process.chdir(before);
    await rx.close();
  }
}, 30_000);

test("a validator re-running a model whose run allocates past its memory cap gets MODEL_LIMIT_EXCEEDED and re-runs the next", () => {
  // The cap is the process's: the re-run happens in a process of its own, under a hard data
  // limit of 8 GiB so that even a broken cap cannot take the machine's memory.
  const dir = mkdtempSync(join(root, "memory-"));
  const guard = String(8 * 2 ** 30);
  const script = join(import.meta.dir, "..", "test-support", "reexec-memory-attack.ts");
  const r = Bun.spawnSync(["prlimit", `--data=${guard}:${guard}`, process.execPath, script, "256", dir], {
    stdout: "pipe",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`the re-run process failed: ${r.stderr.toString().slice(-2000)}`);
  const report = JSON.parse(r.stdout.toString().trim().split("\n").at(-1) ?? "{}") as {
    attacked: { code: string; details?: unknown };
    after: { code: string };
  };
  expect(report.attacked).toEqual({
    code: "MODEL_LIMIT_EXCEEDED",
    details: { model: "expand-sum", maxMemoryBytes: 256 * 2 ** 20 },
  });
  expect(report.after.code).toBe("resolved");
}, 60_000);
