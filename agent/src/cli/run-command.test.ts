import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytesToBase64, type TaskFrame } from "@ncn/protocol";
import { externalDataModelBytes, externalDataModelDescriptor } from "@ncn/runtime/testing";
import { TestGateway } from "../testing/test-gateway.ts";

const root = mkdtempSync(join(tmpdir(), "ncn-run-command-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test("`agent run` works from a private empty folder: a model naming a file beside where it was started gets MODEL_REJECTED and nothing of the file", async () => {
  // Started from a folder holding a key where a model can name it, as from $HOME.
  const home = join(root, "home");
  mkdirSync(join(home, ".local"), { recursive: true });
  const secret = new TextEncoder().encode(`0x${"7".repeat(64)}\n\n`);
  writeFileSync(join(home, ".local", "agent.key"), secret);
  const models = join(root, "models");
  mkdirSync(models);
  const dataDir = join(root, "data");
  const g = new TestGateway({ heartbeatMs: 100 });
  const proc = Bun.spawn(
    [
      process.execPath,
      join(import.meta.dir, "..", "main.ts"),
      "run",
      `--gateway=${g.url}`,
      "--subnet=ocr",
      `--data-dir=${dataDir}`,
      `--model-dir=${models}`,
      "--python=off",
      "--log-level=error",
    ],
    { cwd: home, env: { PATH: process.env.PATH ?? "", HOME: home }, stdout: "pipe", stderr: "pipe" },
  );
  try {
    await g.until(() => g.authenticated().length > 0, 30_000);
    expect(readlinkSync(`/proc/${proc.pid}/cwd`)).toBe(join(dataDir, "empty"));
    expect(statSync(join(dataDir, "empty")).mode & 0o777).toBe(0o700);
    let seq = 0;
    for (const place of ["initializer", "subgraph"] as const) {
      const steal = { location: ".local/agent.key", length: secret.byteLength, place };
      const file = join(models, `steal-${place}.onnx`);
      writeFileSync(file, externalDataModelBytes(steal));
      seq++;
      const task = {
        type: "task",
        taskId: `steal-${seq}:1`,
        requestId: `steal-${seq}`,
        subnet: "ocr",
        model: externalDataModelDescriptor({ ...steal, sources: [`file:${file}`] }),
        price: "1",
        deadline: Date.now() + 30_000,
        kind: "tensor",
        inputs: {},
      } as unknown as TaskFrame;
      g.send(task);
      const err = await g.waitFor("error", (e) => e.taskId === task.taskId, 30_000);
      expect(err.code).toBe("MODEL_REJECTED");
    }
    const sent = JSON.stringify(g.frames);
    for (const leak of ["7777", bytesToBase64(secret), bytesToBase64(secret.subarray(0, 12))])
      expect(sent).not.toContain(leak);
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
    await g.stop();
  }
}, 60_000);

test("a key given as a flag is refused before anything starts, and is not echoed", async () => {
  const key = `0x${"5c".repeat(32)}`;
  const dataDir = join(root, "data-flag");
  const proc = Bun.spawn(
    [
      process.execPath,
      join(import.meta.dir, "..", "main.ts"),
      "run",
      "--gateway=ws://127.0.0.1:9",
      "--subnet=ocr",
      `--data-dir=${dataDir}`,
      `--private-key=${key}`,
      "--python=off",
    ],
    { cwd: root, env: { PATH: process.env.PATH ?? "", HOME: root }, stdout: "pipe", stderr: "pipe" },
  );
  const [code, out, err] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  expect(code).toBe(2);
  expect(err).toContain("--private-key is refused");
  expect(err).toContain("NCN_PRIVATE_KEY");
  expect(`${out}${err}`).not.toContain(key.slice(2, 20));
  // Nothing started: no data folder, no key written.
  expect(() => statSync(dataDir)).toThrow();
});
