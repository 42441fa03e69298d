import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentError, STRICT_SOURCE_POLICY } from "@ncn/agent";
import {
  externalDataModelBytes,
  externalDataModelDescriptor,
  tinyModelBytes,
  tinyModelDescriptor,
} from "@ncn/agent/testing";
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
      expect(err).toBeInstanceOf(AgentError);
      expect((err as AgentError).code).toBe("MODEL_REJECTED");
    }
  } finally {
    process.chdir(before);
    await rx.close();
  }
}, 30_000);
