import { afterAll, beforeAll, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { tinyModelBytes, tinyModelReference } from "@ncn/runtime/testing/tiny-model";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type Devnet, startDevnet } from "./devnet.ts";

const WAD = 10n ** 18n;

// An operator's first hour, with the commands an operator runs: `ncn model register` on a real
// ONNX file with no flags reads its inputs and outputs, a subnet offers it, an agent attached
// to the subnet serves a paid request to it; a file that is not ONNX and a subnet naming a
// model nobody registered are refused, and nothing is published for them.

const ROOT = resolve(import.meta.dirname, "..", "..", "..");
const BUN = process.execPath;
const CLI = join(ROOT, "cli", "src", "main.ts");
const AGENT = join(ROOT, "agent", "src", "main.ts");

let devnet: Devnet;
let home: string;
let agent: ChildProcess | undefined;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "ncn-operator-e2e-"));
  devnet = await startDevnet({ dir: join(home, ".ncn"), port: 0 });
}, 180_000);

afterAll(async () => {
  agent?.kill("SIGKILL");
  await devnet?.stop();
  if (!process.env.NCN_KEEP_E2E) rmSync(home, { recursive: true, force: true });
}, 60_000);

function ncn(
  args: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(BUN, [CLI, ...args], { cwd: home, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    p.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    p.on("close", (code) => done({ code, stdout, stderr }));
  });
}

const registry = () => devnet.file.registries[0]?.url as string;

test("the devnet ships sample images that `ncn ocr` reads back, with a receipt that verifies", async () => {
  const r = await ncn(["ocr", join(devnet.dir, "samples", "invoice.png"), "--json"]);
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as { lines: { text: string }[]; verification: { ok: boolean } };
  const text = out.lines.map((l) => l.text).join(" ");
  expect(text).toContain("Invoice");
  expect(text).toContain("42.00");
  expect(out.verification.ok).toBe(true);
}, 60_000);

test("a model registered from its file alone serves paid requests; a non-ONNX file and an unknown model are refused", async () => {
  // The file in the folder the devnet's agents may read `file:` sources from.
  const file = join(home, ".ncn", "models", "my-model.onnx");
  writeFileSync(file, tinyModelBytes());
  const registered = await ncn(["model", "register", file, "--id", "my-model", "--json"]);
  expect(registered.code).toBe(0);
  const descriptor = JSON.parse(registered.stdout) as {
    inputs: { name: string; dtype: string; dims: unknown[] }[];
    outputs: { name: string; dtype: string; dims: unknown[] }[];
  };
  // Read off the file by onnxruntime: no --inputs or --outputs given.
  expect(descriptor.inputs.map((t) => [t.name, t.dtype, t.dims.length])).toEqual([["x", "float32", 2]]);
  expect(descriptor.outputs.map((t) => [t.name, t.dtype, t.dims.length])).toEqual([["y", "float32", 2]]);
  const human = await ncn(["model", "register", file, "--id", "my-model-2"]);
  expect(human.stderr).toContain("reaches only agents on this machine");

  const subnet = await ncn([
    "subnet",
    "create",
    "--id",
    "mine",
    "--name",
    "Mine",
    "--model",
    "my-model=1000",
    "--json",
  ]);
  expect(subnet.code).toBe(0);

  // An agent attached to the new subnet (what the README's "attach an agent" says).
  const proc = spawn(BUN, [AGENT, "run"], {
    cwd: home,
    env: {
      ...process.env,
      NCN_GATEWAY: devnet.file.gateway.url,
      NCN_DATA_DIR: join(home, "mine-agent"),
      NCN_SUBNETS: "mine",
      NCN_MODEL_DIRS: join(home, ".ncn", "models"),
    },
    stdio: ["ignore", "ignore", "ignore"],
  });
  agent = proc;
  const x = Float32Array.from([0.5, -1, 2, 0.25]);
  const deadline = Date.now() + 60_000;
  let served: Awaited<ReturnType<typeof devnet.client.infer>> | undefined;
  for (;;) {
    try {
      served = await devnet.client.infer({
        subnet: "mine",
        model: "my-model",
        inputs: { x: { dtype: "float32", dims: [1, 4], data: x } },
      });
      if (served.response.state === "returned") break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    if (Date.now() > deadline) throw new Error(`the request ended ${served?.response.state}`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
  const y = served.outputs.y?.data as Float32Array;
  const want = tinyModelReference(x);
  expect(Array.from(y).map((v, i) => Math.abs(v - (want[i] as number)) < 1e-4)).toEqual(
    Array.from(want, () => true),
  );

  // The same through `ncn infer`. (Its progress lines are not checked: a request this fast
  // often ends before the event stream that carries them is attached.)
  const cli = await ncn([
    "infer",
    "--subnet",
    "mine",
    "--model",
    "my-model",
    "--input",
    JSON.stringify({ x: { dtype: "float32", dims: [1, 4], values: Array.from(x) } }),
  ]);
  expect(cli.code).toBe(0);
  expect(cli.stdout).toContain("receipt: verified");

  // Not ONNX: refused, nothing published.
  const junk = join(home, "notes.txt");
  writeFileSync(junk, "these are my notes, not a model\n".repeat(10));
  const refused = await ncn(["model", "register", junk, "--id", "junk", "--json"]);
  expect(refused.code).toBe(1);
  const err = JSON.parse(refused.stdout).error as { code: string; message: string };
  expect(err.code).toBe("INVALID_INPUT");
  expect(err.message).toContain("not an ONNX model");
  expect((await fetch(`${registry()}/v1/models/junk`)).status).toBe(404);

  // A subnet naming a model nobody registered: refused, nothing published.
  const unknown = await ncn([
    "subnet",
    "create",
    "--id",
    "ghosts",
    "--name",
    "Ghosts",
    "--model",
    "no-such-model=5",
    "--json",
  ]);
  expect(unknown.code).toBe(1);
  expect(JSON.parse(unknown.stdout).error.code).toBe("MODEL_NOT_FOUND");
  expect((await fetch(`${registry()}/v1/subnets/ghosts`)).status).toBe(404);
}, 180_000);

test("a key of your own: funded on the devnet, it opens, funds, shows and (once expired) closes a session", async () => {
  const key = generatePrivateKey();
  const me = privateKeyToAccount(key).address;
  const env = { ...process.env, NCN_PRIVATE_KEY: key };
  expect((await ncn(["fund", me, "--eth", "1", "--ncn", "50"])).code).toBe(0);
  const opened = await ncn(["session", "open", "--deposit", "10", "--expiry", "1h", "--json"], env);
  expect(opened.code).toBe(0);
  const { sessionId } = JSON.parse(opened.stdout) as { sessionId: `0x${string}` };
  const show = async () => JSON.parse((await ncn(["session", "show", sessionId, "--json"], env)).stdout);
  expect(await show()).toMatchObject({ deposit: String(10n * WAD), charged: "0", left: String(10n * WAD) });
  const funded = await ncn(["session", "fund", sessionId, "--amount", "5", "--extend", "1h", "--json"], env);
  expect(funded.code).toBe(0);
  expect((await show()).deposit).toBe(String(15n * WAD));
  // Still running: closing is refused, saying until when.
  const early = await ncn(["session", "close", sessionId, "--json"], env);
  expect([early.code, JSON.parse(early.stdout).error.code]).toEqual([1, "CONFLICT"]);
  expect(JSON.parse(early.stdout).error.message).toContain("runs until");
  // Another key cannot fund or close it.
  const stranger = { ...process.env, NCN_PRIVATE_KEY: generatePrivateKey() };
  const theirs = await ncn(["session", "close", sessionId, "--json"], stranger);
  expect(JSON.parse(theirs.stdout).error.code).toBe("FORBIDDEN");
  // Past its expiry and the settlement grace (1 h on the devnet): closed, the deposit back.
  // (Last in this file: the devnet's own session ages with the chain too.)
  await devnet.chain.advanceTime(3 * 3600 + 120);
  const closed = await ncn(["session", "close", sessionId, "--json"], env);
  expect(closed.code).toBe(0);
  expect(JSON.parse(closed.stdout).refund).toBe(String(15n * WAD));
}, 120_000);
