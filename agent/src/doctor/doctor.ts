import { accessSync, constants, mkdirSync, statfsSync } from "node:fs";
import { ChallengeFrame, ModelDescriptor } from "@ncn/protocol";
import {
  BUILTIN_MODELS,
  loadSharp,
  ModelStore,
  machineInfo,
  probeGpu,
  resolveNpmSource,
  setNativeLibDir,
} from "@ncn/runtime";
import { isCompiled } from "@ncn/runtime/embedded";
import { OnnxRuntime, PROBE_INPUT, PROBE_OUTPUT, probeModelBytes, sha256Hex } from "@ncn/runtime/onnx";
import * as v from "valibot";
import { createPublicClient, formatEther, http } from "viem";
import { getBalance } from "viem/actions";
import { dataPaths } from "../agent.ts";
import type { AgentConfig } from "../config/config.ts";
import { peekIdentity } from "../identity/identity.ts";
import { sandboxSupport } from "../python-runtime.ts";
import { AGENT_VERSION } from "../version.ts";

/**
 * Where the agent is paid and what withdrawing needs: its earnings are credited to its own
 * address, and moving them out is a transaction that address pays gas for.
 */
async function payoutCheck(config: AgentConfig, address: string | undefined): Promise<string> {
  const how = `earnings are credited to the agent's address; withdrawing them (ncn-agent withdraw) costs a little ether for gas, sent to that address (on a devnet: ncn fund ${address ?? "<address>"})`;
  if (!config.rpcUrl || !address) return `${how}; with --rpc-url, ncn-agent earnings shows them`;
  try {
    const client = createPublicClient({ transport: http(config.rpcUrl) });
    const wei = await getBalance(client, { address: address as `0x${string}` });
    return wei === 0n ? `${how}: it holds no ether yet` : `${how}: it holds ${formatEther(wei)} ETH`;
  } catch (e) {
    return `${how}; the RPC at ${config.rpcUrl} did not answer (${(e as Error).message.split("\n")[0]})`;
  }
}

/** `fail` means this machine cannot serve; `warn` means it serves with less. */
export type CheckStatus = "ok" | "info" | "warn" | "fail";

export interface DoctorCheck {
  section: string;
  name: string;
  status: CheckStatus;
  detail: string;
}

export interface DoctorReport {
  version: string;
  compiled: boolean;
  checks: DoctorCheck[];
  /** True when no check failed. */
  canServe: boolean;
  /** The failures, one line each. */
  reasons: string[];
}

export interface DoctorOptions {
  /** Skip the sandbox probe (it runs a real sandboxed task). */
  skipSandbox?: boolean;
  /** How long to wait for the gateway's challenge (ms). */
  gatewayTimeoutMs?: number;
}

const MB = 1024 * 1024;

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, Math.round((performance.now() - t0) * 10) / 10];
}

/**
 * Checks whether this machine can serve as a compute agent: hardware, runtimes (a real
 * inference), built-in models, image decoding, the Python sandbox, the data folder and
 * the gateway. A gateway not configured yet is reported, not a failure.
 */
export async function runDoctor(
  config: AgentConfig | { problems: readonly string[] },
  options: DoctorOptions = {},
): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const add = (section: string, name: string, status: CheckStatus, detail: string) =>
    checks.push({ section, name, status, detail });

  if ("problems" in config) {
    for (const p of config.problems) add("config", "setting", "fail", p);
    return finish(checks);
  }
  add("config", "settings", "ok", `data folder ${config.dataDir}`);
  const paths = dataPaths(config.dataDir);
  setNativeLibDir(paths.native);

  const m = machineInfo();
  add("machine", "cpu", "ok", `${m.cpuModel}, ${m.cores} cores`);
  add(
    "machine",
    "memory",
    m.memoryMb < 1024 ? "warn" : "ok",
    `${m.memoryMb} MB total, ${m.memoryFreeMb} MB free${m.memoryMb < 1024 ? " (less than 1 GB)" : ""}`,
  );
  const gpu = probeGpu([paths.native]);
  add("machine", "gpu", "info", gpu.gpu ? gpu.gpu.name : "no NVIDIA GPU");
  add(
    "machine",
    "cuda",
    "info",
    gpu.cudaProviderLib
      ? `onnxruntime CUDA provider at ${gpu.cudaProviderLib}`
      : "onnxruntime CUDA provider not installed",
  );

  // Data folder first: the runtimes extract their libraries into it.
  let writable = false;
  try {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    accessSync(config.dataDir, constants.W_OK);
    writable = true;
    const fs = statfsSync(config.dataDir);
    const freeMb = Math.floor((fs.bavail * fs.bsize) / MB);
    const budgetMb = Math.floor(config.cacheMaxBytes / MB);
    add(
      "storage",
      "data folder",
      freeMb < Math.min(budgetMb, 2048) ? "warn" : "ok",
      `${config.dataDir} writable, ${freeMb} MB free on disk`,
    );
  } catch (e) {
    add("storage", "data folder", "fail", `${config.dataDir} is not writable: ${(e as Error).message}`);
  }

  if (writable) {
    try {
      const store = await ModelStore.open({
        dir: paths.models,
        maxBytes: config.cacheMaxBytes,
        ttlMs: config.cacheTtlMs,
        sources: config.sources,
        maxModelBytes: config.maxModelBytes,
      });
      add(
        "storage",
        "model cache",
        "ok",
        `${store.list().length} models, ${Math.round(store.usedBytes() / MB)} of ${Math.round(config.cacheMaxBytes / MB)} MB, TTL ${Math.round(config.cacheTtlMs / 3_600_000)} h`,
      );
    } catch (e) {
      add("storage", "model cache", "fail", (e as Error).message);
    }
    const address = peekIdentity(config.dataDir, config.privateKey, config.privateKeyFile);
    add(
      "identity",
      "agent key",
      "info",
      address ? `agent address ${address}` : "a key will be generated on first run",
    );
    add("identity", "payouts", "info", await payoutCheck(config, address ?? undefined));
  }

  let runtime: OnnxRuntime | undefined;
  try {
    const [rt, ms] = await timed(() =>
      OnnxRuntime.create({
        executionProvider: config.executionProvider,
        threads: config.threads,
        graphOptimization: config.graphOptimization,
        gpuProbe: gpu,
      }),
    );
    runtime = rt;
    add(
      "runtimes",
      "onnxruntime",
      "ok",
      `loaded in ${ms} ms; execution provider ${rt.provider}: ${rt.choice.reason}`,
    );
    const bytes = probeModelBytes();
    const desc = v.parse(ModelDescriptor, {
      id: "doctor-probe",
      sha256: sha256Hex(bytes),
      size: bytes.length,
      runtime: "onnx",
      // Loaded from memory below; the source is never read.
      sources: ["file:doctor-probe.onnx"],
      inputs: [{ name: "x", dtype: "float32", dims: ["batch", 4] }],
      outputs: [{ name: "y", dtype: "float32", dims: ["batch", 3] }],
    });
    const [out, runMs] = await timed(() =>
      rt.run(desc, async () => bytes, {
        x: { dtype: "float32", dims: [1, 4], data: Float32Array.from(PROBE_INPUT) },
      }),
    );
    const y = Array.from((out.y?.data as Float32Array | undefined) ?? []);
    const ok = y.length === 3 && PROBE_OUTPUT.every((e, i) => Math.abs((y[i] ?? Number.NaN) - e) < 1e-4);
    add(
      "runtimes",
      "onnx inference",
      ok ? "ok" : "fail",
      ok ? `test model ran in ${runMs} ms` : `wrong output ${y}`,
    );
  } catch (e) {
    add("runtimes", "onnxruntime", "fail", (e as Error).message);
  }

  try {
    const [, ms] = await timed(async () => {
      const sharp = await loadSharp();
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#336699" } })
        .png()
        .toBuffer();
      const raw = await sharp(png).raw().toBuffer({ resolveWithObject: true });
      if (raw.info.width !== 8 || raw.data[0] !== 0x33) throw new Error("decoded pixels are wrong");
    });
    add("runtimes", "image decoding", "ok", `sharp decoded a PNG in ${ms} ms`);
  } catch (e) {
    add("runtimes", "image decoding", "warn", `OCR unavailable: ${(e as Error).message}`);
  }

  // Built-in models: present (embedded or installed) and intact.
  const missing: string[] = [];
  for (const model of BUILTIN_MODELS) {
    const source = model.sources[0] ?? "";
    const path = source.startsWith("npm:") ? resolveNpmSource(source) : null;
    if (!path) {
      missing.push(`${model.id} (${source} not found)`);
      continue;
    }
    const bytes = await Bun.file(path).bytes();
    if (sha256Hex(bytes) !== model.sha256) missing.push(`${model.id} (hash mismatch)`);
  }
  add(
    "models",
    "built-in models",
    missing.length === 0 ? "ok" : "warn",
    missing.length === 0
      ? `${BUILTIN_MODELS.map((x) => x.id).join(", ")} present and verified${isCompiled() ? " (embedded)" : ""}`
      : `unavailable: ${missing.join("; ")}`,
  );

  const sources = config.sources;
  const kinds = ["https:", "npm:", ...(sources.allowHttp ? ["http:"] : [])];
  if (sources.localDirs.length > 0) kinds.push(`file: in ${sources.localDirs.join(", ")}`);
  add(
    "models",
    "model sources",
    sources.allowPrivateHosts ? "warn" : "ok",
    `${kinds.join(", ")}; models up to ${Math.round(config.maxModelBytes / MB)} MB${
      sources.allowPrivateHosts ? "; loopback and private hosts allowed (local development only)" : ""
    }`,
  );

  if (options.skipSandbox || config.python === "off") {
    add("sandbox", "python sandbox", "info", "not checked (python runtime off)");
  } else {
    const s = await sandboxSupport(paths.sandbox);
    for (const r of s.reports) {
      add("sandbox", r.layer, r.available ? "ok" : r.required ? "warn" : "info", r.reason);
    }
    add(
      "sandbox",
      "python runtime",
      s.available ? "ok" : "warn",
      s.available ? "offered: every required isolation layer works" : `not offered: ${s.missing.join("; ")}`,
    );
  }

  if (!config.gateway) {
    add("gateway", "connectivity", "info", "no gateway configured yet (--gateway or NCN_GATEWAY)");
  } else {
    if (config.subnets.length === 0)
      add("gateway", "subnets", "fail", "no subnet configured (--subnet or NCN_SUBNETS)");
    const detail = await probeGateway(
      config.gateway,
      config.subnets[0] ?? "default",
      options.gatewayTimeoutMs ?? 5000,
    );
    add("gateway", "connectivity", detail.ok ? "ok" : "fail", detail.message);
  }
  await runtime?.close();
  return finish(checks);
}

function finish(checks: DoctorCheck[]): DoctorReport {
  const reasons = checks.filter((c) => c.status === "fail").map((c) => `${c.section}/${c.name}: ${c.detail}`);
  return { version: AGENT_VERSION, compiled: isCompiled(), checks, canServe: reasons.length === 0, reasons };
}

/** Opens the agent socket and waits for a well-formed challenge. */
async function probeGateway(
  gateway: string,
  subnet: string,
  timeoutMs: number,
): Promise<{ ok: boolean; message: string }> {
  const url = `${gateway}/v1/agents/connect?${new URLSearchParams({ subnet, agent: `0x${"0".repeat(40)}` })}`;
  const t0 = performance.now();
  return new Promise((resolve) => {
    let ws: WebSocket;
    const done = (ok: boolean, message: string) => {
      clearTimeout(timer);
      try {
        ws.close();
      } catch {
        // already closed
      }
      resolve({ ok, message });
    };
    const timer = setTimeout(() => done(false, `${gateway}: no challenge within ${timeoutMs} ms`), timeoutMs);
    try {
      ws = new WebSocket(url);
    } catch (e) {
      clearTimeout(timer);
      resolve({ ok: false, message: `${gateway}: ${(e as Error).message}` });
      return;
    }
    ws.addEventListener("message", (e) => {
      let frame: unknown;
      try {
        frame = JSON.parse(String(e.data));
      } catch {
        frame = undefined;
      }
      const c = v.safeParse(ChallengeFrame, frame);
      if (c.success) {
        const ms = Math.round(performance.now() - t0);
        done(true, `${gateway} answered with a challenge in ${ms} ms (chain ${c.output.chainId})`);
      } else done(false, `${gateway} sent something other than a challenge`);
    });
    ws.addEventListener("close", (e) =>
      done(false, `${gateway}: connection closed (${e.code}) before a challenge`),
    );
  });
}

/** Human-readable report, one line per check. */
export function formatDoctor(r: DoctorReport): string {
  const mark: Record<CheckStatus, string> = { ok: "ok  ", info: "--  ", warn: "WARN", fail: "FAIL" };
  const lines = [`ncn-agent ${r.version}${r.compiled ? " (single executable)" : ""}`];
  let section = "";
  for (const c of r.checks) {
    if (c.section !== section) {
      section = c.section;
      lines.push(`\n${section}`);
    }
    lines.push(`  ${mark[c.status]} ${c.name}: ${c.detail}`);
  }
  lines.push(
    r.canServe
      ? "\nThis machine can serve as a compute agent."
      : `\nThis machine cannot serve yet:\n${r.reasons.map((x) => `  - ${x}`).join("\n")}`,
  );
  return `${lines.join("\n")}\n`;
}
