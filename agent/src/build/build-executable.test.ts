import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bytesToBase64,
  ncnDomain,
  receiptMessage,
  type TaskFrame,
  tensorToJson,
  typedData,
} from "@ncn/protocol";
import {
  expandSumModel,
  externalDataModelBytes,
  externalDataModelDescriptor,
  tinyModelBytes,
  tinyModelDescriptor,
} from "@ncn/runtime/testing";
import { characterErrorRate, renderText } from "@ncn/runtime/testing/render-text";
import * as v from "valibot";
import { recoverTypedDataAddress } from "viem";
import { TestGateway } from "../testing/test-gateway.ts";
import { buildExecutable } from "./build-executable.ts";

// One build for the whole file: the executable is copied alone into an empty folder
// (no node_modules above it) and run from there.
let dir: string;
let exe: string;
let env: Record<string, string>;

beforeAll(async () => {
  const buildDir = mkdtempSync(join(tmpdir(), "ncn-build-"));
  dir = mkdtempSync(join(tmpdir(), "ncn-exe-"));
  const built = await buildExecutable({ outfile: join(buildDir, "ncn-agent"), log: () => {} });
  exe = join(dir, "ncn-agent");
  copyFileSync(built.outfile, exe);
  rmSync(buildDir, { recursive: true, force: true });
  env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, NCN_DATA_DIR: join(dir, "data") };
}, 240_000);

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A task running the tiny model (written to `dir/model.onnx`) on [1, 2, 3, 4]; its id is `${id}:1`. */
function tinyTask(id: string): TaskFrame {
  return {
    type: "task",
    taskId: `${id}:1`,
    requestId: id as never,
    subnet: "ocr" as never,
    model: tinyModelDescriptor({ sources: [`file:${join(dir, "model.onnx")}`] }),
    price: "7",
    deadline: Date.now() + 30_000,
    kind: "tensor",
    inputs: { x: tensorToJson({ dtype: "float32", dims: [1, 4], data: new Float32Array([1, 2, 3, 4]) }) },
  };
}

/** `ncn-agent run` for a test gateway on the ocr subnet, models from `dir`; `wrap` goes before it. */
function serve(
  g: TestGateway,
  opts: { extra?: string[]; wrap?: string[]; cwd?: string; env?: Record<string, string> } = {},
) {
  return Bun.spawn(
    [
      ...(opts.wrap ?? []),
      exe,
      "run",
      "--gateway",
      g.url,
      "--subnet",
      "ocr",
      "--python",
      "off",
      "--log-level",
      "warn",
      "--model-dir",
      dir,
      ...(opts.extra ?? []),
    ],
    { cwd: opts.cwd ?? dir, env: opts.env ?? env, stdout: "pipe", stderr: "pipe" },
  );
}

async function run(
  args: string[],
  timeoutMs = 60_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn([exe, ...args], { cwd: dir, env, stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
  const [code, stdout, stderr] = await Promise.all([
    p.exited,
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
  ]);
  return { code, stdout, stderr };
}

describe("single executable", () => {
  test("--version and --help", async () => {
    const v = await run(["--version"]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = await run(["--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("doctor");
  });

  test("doctor passes with its embedded runtime and models, and fails on bad settings", async () => {
    const d = await run(["doctor", "--json"]);
    expect(d.code).toBe(0);
    const report = v.parse(
      v.object({
        compiled: v.boolean(),
        canServe: v.boolean(),
        checks: v.array(v.object({ name: v.string(), status: v.string(), detail: v.string() })),
      }),
      JSON.parse(d.stdout),
    );
    expect(report.compiled).toBe(true);
    expect(report.canServe).toBe(true);
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(byName["onnx inference"]?.status).toBe("ok");
    expect(byName["built-in models"]?.detail).toContain("embedded");
    expect(byName["image decoding"]?.status).toBe("ok");
    expect(byName.connectivity?.status).toBe("info");
    const bad = await run(["doctor", "--gateway", "ws://127.0.0.1:9", "--subnet", "ocr", "--skip-sandbox"]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain("cannot serve");
  }, 60_000);

  test("runs a real inference and a real OCR from an empty folder", async () => {
    writeFileSync(join(dir, "tiny.onnx"), tinyModelBytes());
    const input = JSON.stringify({ x: { dtype: "float32", dims: [1, 4], values: [1, 2, 3, 4] } });
    const r = await run(["infer", "--model-file", "tiny.onnx", "--input", input]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = v.parse(
      v.object({ outputs: v.object({ y: v.object({ values: v.array(v.number()) }) }) }),
      JSON.parse(r.stdout),
    );
    expect(out.outputs.y.values.map((x) => Math.round(x * 100) / 100)).toEqual([4.85, 0, 4.55]);

    writeFileSync(
      join(dir, "page.png"),
      renderText({ lines: ["Single executable", "reads this page"], size: 34 }),
    );
    const o = await run(["ocr", "page.png"]);
    expect(o.code).toBe(0);
    expect(characterErrorRate("Single executable\nreads this page", o.stdout.trim())).toBeLessThan(0.05);
  }, 60_000);

  test("serves a task for a gateway and stops cleanly on SIGTERM", async () => {
    const g = new TestGateway({ heartbeatMs: 200 });
    writeFileSync(join(dir, "model.onnx"), tinyModelBytes());
    const p = serve(g);
    try {
      const hello = await g.waitFor("hello", () => true, 30_000);
      g.send(tinyTask("exe-1"));
      const res = await g.waitFor("result", (f) => f.taskId === "exe-1:1", 30_000);
      const signer = await recoverTypedDataAddress({
        ...typedData(
          ncnDomain(g.chainId, g.verifyingContract),
          "InferenceReceipt",
          receiptMessage(res.receipt.receipt),
        ),
        signature: res.receipt.signature,
      });
      expect(signer.toLowerCase()).toBe(hello.agent);
      p.kill("SIGTERM");
      expect(await p.exited).toBe(0);
    } finally {
      p.kill("SIGKILL");
      await g.stop();
    }
  }, 60_000);

  test("a model whose run allocates past --max-model-memory-mb is refused MODEL_LIMIT_EXCEEDED; the agent serves on", async () => {
    const g = new TestGateway({ heartbeatMs: 200 });
    // 1 GiB in between, one number out; the agent may give a run 256 MiB. The agent itself runs
    // under a hard data limit of 8 GiB: even with its cap broken it cannot take the machine.
    const attack = expandSumModel([16384, 16384]);
    writeFileSync(join(dir, "expand-sum.onnx"), attack.bytes);
    writeFileSync(join(dir, "model.onnx"), tinyModelBytes());
    const guard = String(8 * 2 ** 30);
    const p = serve(g, {
      wrap: ["prlimit", `--data=${guard}:${guard}`],
      extra: ["--max-model-memory-mb", "256"],
    });
    try {
      await g.waitFor("hello", () => true, 30_000);
      const x = { x: tensorToJson({ dtype: "float32", dims: [1], data: new Float32Array([2]) }) };
      g.send({
        type: "task",
        taskId: "exe-mem-1:1",
        requestId: "exe-mem-1" as never,
        subnet: "ocr" as never,
        model: { ...attack.descriptor, sources: [`file:${join(dir, "expand-sum.onnx")}`] },
        price: "7",
        deadline: Date.now() + 30_000,
        kind: "tensor",
        inputs: x,
      });
      const err = await g.waitFor("error", (f) => f.taskId === "exe-mem-1:1", 30_000);
      expect(err.code).toBe("MODEL_LIMIT_EXCEEDED");
      expect(err.message).toContain("256 MiB");
      expect(g.frames.some(({ frame: f }) => f.type === "result" && f.taskId === "exe-mem-1:1")).toBe(false);
      g.send(tinyTask("exe-mem-2"));
      await g.waitFor("result", (f) => f.taskId === "exe-mem-2:1", 30_000);
    } finally {
      p.kill("SIGKILL");
      await p.exited;
      await g.stop();
    }
  }, 60_000);

  test("a planted library of the same size in the data folder is replaced before it is opened", async () => {
    // The copy the earlier runs extracted, and what it must hold.
    const native = join(dir, "data", "native");
    const folder = readdirSync(native).find((d) => existsSync(join(native, d, "libonnxruntime.so.1")));
    if (!folder) throw new Error("no extracted onnxruntime library");
    const target = join(native, folder, "libonnxruntime.so.1");
    const original = sha256(readFileSync(target));
    const size = statSync(target).size;
    // Another local user's library: its constructor leaves a marker when anything loads it.
    const marker = join(dir, "planted-code-ran");
    const c = join(dir, "evil.c");
    writeFileSync(
      c,
      `#include <stdio.h>\nvoid *OrtGetApiBase(void) { return 0; }\n__attribute__((constructor)) static void run(void) { FILE *f = fopen(${JSON.stringify(marker)}, "w"); if (f) fclose(f); }\n`,
    );
    const so = join(dir, "evil.so");
    expect(Bun.spawnSync(["cc", "-shared", "-fPIC", "-o", so, c]).exitCode).toBe(0);
    const planted = new Uint8Array(size);
    planted.set(readFileSync(so));
    writeFileSync(target, planted);
    const d = await run(["doctor", "--json", "--skip-sandbox"]);
    expect(d.code).toBe(0);
    expect(existsSync(marker)).toBe(false);
    expect(sha256(readFileSync(target))).toBe(original);
  }, 60_000);

  test("started from / with the default data folder, a model naming the agent's own key gets MODEL_REJECTED and no byte of it", async () => {
    const g = new TestGateway({ heartbeatMs: 200 });
    // No NCN_DATA_DIR: the key goes to $HOME/.local/share/ncn-agent/agent.key.
    const p = serve(g, { cwd: "/", env: { PATH: env.PATH ?? "/usr/bin:/bin", HOME: dir } });
    try {
      await g.waitFor("hello", () => true, 30_000);
      const keyFile = join(dir, ".local", "share", "ncn-agent", "agent.key");
      const key = readFileSync(keyFile);
      let seq = 0;
      for (const place of ["initializer", "subgraph"] as const) {
        // Relative to "/", where the agent was started: the whole file system is in reach.
        const steal = { location: keyFile.slice(1), length: 64, place };
        const file = join(dir, `steal-${place}.onnx`);
        writeFileSync(file, externalDataModelBytes(steal));
        const taskId = `exe-steal-${++seq}:1`;
        g.send({
          type: "task",
          taskId,
          requestId: `exe-steal-${seq}` as never,
          subnet: "ocr" as never,
          model: externalDataModelDescriptor({ ...steal, sources: [`file:${file}`] }),
          price: "7",
          deadline: Date.now() + 30_000,
          kind: "tensor",
          inputs: {},
        });
        const err = await g.waitFor("error", (f) => f.taskId === taskId, 30_000);
        expect(err.code).toBe("MODEL_REJECTED");
      }
      const sent = JSON.stringify(g.frames);
      const hex = key.toString("utf8").trim().slice(2);
      for (const leak of [
        hex.slice(0, 16),
        bytesToBase64(key.subarray(0, 12)),
        bytesToBase64(key.subarray(0, 64)),
      ])
        expect(sent).not.toContain(leak);
    } finally {
      p.kill("SIGKILL");
      await p.exited;
      await g.stop();
    }
  }, 60_000);
});
