import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { SubnetId } from "@ncn/protocol";
import { defaultModelMemoryBytes, parseIpLiteral, type SourcePolicy } from "@ncn/runtime";
import type { LogLevel } from "@ncn/runtime/logger";
import type { GraphOptimization } from "@ncn/runtime/onnx";
import * as v from "valibot";
import { ConfigError } from "../errors.ts";
import { PrivateKey } from "../identity/identity.ts";

/** Every setting: its command-line flag and its environment variable. */
export const SETTINGS = {
  gateway: { flag: "gateway", env: "NCN_GATEWAY" },
  dataDir: { flag: "data-dir", env: "NCN_DATA_DIR" },
  privateKey: { flag: "private-key", env: "NCN_PRIVATE_KEY" },
  privateKeyFile: { flag: "private-key-file", env: "NCN_PRIVATE_KEY_FILE" },
  chainId: { flag: "chain-id", env: "NCN_CHAIN_ID" },
  paymentContract: { flag: "payment-contract", env: "NCN_PAYMENT_CONTRACT" },
  rpcUrl: { flag: "rpc-url", env: "NCN_RPC_URL" },
  subnets: { flag: "subnet", env: "NCN_SUBNETS" },
  maxConcurrency: { flag: "max-concurrency", env: "NCN_MAX_CONCURRENCY" },
  maxQueued: { flag: "max-queued", env: "NCN_MAX_QUEUED" },
  outboxMaxMb: { flag: "outbox-max-mb", env: "NCN_OUTBOX_MAX_MB" },
  cacheMaxMb: { flag: "cache-max-mb", env: "NCN_CACHE_MAX_MB" },
  cacheTtlHours: { flag: "cache-ttl-hours", env: "NCN_CACHE_TTL_HOURS" },
  maxModelMb: { flag: "max-model-mb", env: "NCN_MAX_MODEL_MB" },
  modelDirs: { flag: "model-dir", env: "NCN_MODEL_DIRS" },
  allowHttpSources: { flag: "allow-http-sources", env: "NCN_ALLOW_HTTP_SOURCES" },
  allowPrivateSources: { flag: "allow-private-sources", env: "NCN_ALLOW_PRIVATE_SOURCES" },
  executionProvider: { flag: "execution-provider", env: "NCN_EXECUTION_PROVIDER" },
  threads: { flag: "threads", env: "NCN_THREADS" },
  graphOpt: { flag: "graph-opt", env: "NCN_GRAPH_OPT" },
  sessionPool: { flag: "session-pool", env: "NCN_SESSION_POOL" },
  maxRunSeconds: { flag: "max-run-seconds", env: "NCN_MAX_RUN_SECONDS" },
  maxOutputMb: { flag: "max-output-mb", env: "NCN_MAX_OUTPUT_MB" },
  maxModelMemoryMb: { flag: "max-model-memory-mb", env: "NCN_MAX_MODEL_MEMORY_MB" },
  python: { flag: "python", env: "NCN_PYTHON" },
  logLevel: { flag: "log-level", env: "NCN_LOG_LEVEL" },
} as const;
export type SettingName = keyof typeof SETTINGS;
export type RawSettings = Partial<Record<SettingName, string | undefined>>;

const int = (min: number, max: number) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.regex(/^\d+$/, `must be a whole number from ${min} to ${max}`),
    v.transform(Number),
    v.minValue(min, `must be a whole number from ${min} to ${max}`),
    v.maxValue(max, `must be a whole number from ${min} to ${max}`),
  );

const oneOf = <const T extends readonly [string, ...string[]]>(options: T) =>
  v.pipe(v.string(), v.trim(), v.toLowerCase(), v.picklist(options, `must be one of ${options.join(", ")}`));

/** Whether a URL's host is this machine: `localhost`, 127.0.0.0/8 or ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  if (host === "localhost") return true;
  const ip = parseIpLiteral(host);
  if (!ip) return false;
  if (ip.family === 4) return ip.bytes[0] === 127;
  return ip.bytes.every((b, i) => b === (i === 15 ? 1 : 0));
}

/**
 * A gateway base URL; http(s) is turned into ws(s), the path is kept. Plain ws:// only to
 * this machine: on any other path the link (and the receipts signed over it) could be read
 * and rewritten.
 */
const GatewayUrl = v.pipe(
  v.string(),
  v.trim(),
  v.check((s) => URL.canParse(s), "must be a URL such as wss://gateway.example or ws://127.0.0.1:8787"),
  v.transform((s) => new URL(s)),
  v.check(
    (u) => ["ws:", "wss:", "http:", "https:"].includes(u.protocol),
    "must use ws://, wss://, http:// or https://",
  ),
  v.check(
    (u) => u.protocol === "wss:" || u.protocol === "https:" || isLoopbackHost(u.hostname),
    "must use wss:// (or https://) for a gateway that is not on this machine",
  ),
  v.transform((u) => {
    const scheme = u.protocol === "https:" || u.protocol === "wss:" ? "wss:" : "ws:";
    return `${scheme}//${u.host}${u.pathname.replace(/\/+$/, "")}`;
  }),
);

const Flag = v.pipe(
  v.string(),
  v.trim(),
  v.toLowerCase(),
  v.picklist(["true", "false", "1", "0", "yes", "no", "on", "off"], "must be true or false"),
  v.transform((s) => ["true", "1", "yes", "on"].includes(s)),
);

/** Comma-separated folders, made absolute against the working folder at start-up. */
const FolderList = v.pipe(
  v.string(),
  v.transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter((x) => x !== ""),
  ),
  v.maxLength(16, "at most 16 folders"),
  v.transform((dirs) => dirs.map((d) => resolve(d))),
);

const SubnetList = v.pipe(
  v.string(),
  v.transform((s) =>
    s
      .split(/[\s,]+/)
      .map((x) => x.trim())
      .filter((x) => x !== ""),
  ),
  v.array(SubnetId, "each subnet must be 1-64 chars of a-z, 0-9, '.', '_', '-', '/'"),
  v.maxLength(64, "at most 64 subnets"),
);

const ConfigSchema = v.object({
  gateway: v.optional(GatewayUrl),
  dataDir: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.minLength(1, "must not be empty"),
      v.transform((s) => resolve(s)),
    ),
  ),
  privateKey: v.optional(PrivateKey),
  privateKeyFile: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.minLength(1, "must not be empty"),
      v.transform((s) => resolve(s)),
    ),
  ),
  chainId: v.optional(int(1, Number.MAX_SAFE_INTEGER)),
  paymentContract: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte address"),
      v.transform((s) => s.toLowerCase() as `0x${string}`),
    ),
  ),
  rpcUrl: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.check((s) => URL.canParse(s), "must be a URL such as https://rpc.example or http://127.0.0.1:8545"),
      v.check((s) => ["http:", "https:"].includes(new URL(s).protocol), "must use http:// or https://"),
    ),
  ),
  subnets: v.optional(SubnetList, ""),
  // Tasks a gateway may keep in flight here: enough to pipeline small tasks through the
  // inference thread; OCR pipelines also take one of a few per-core slots in the executor.
  maxConcurrency: v.optional(int(1, 1024), "64"),
  // Tasks accepted beyond those running; past it (or a full outbox) a task is answered
  // UNAVAILABLE at once, and the gateway gives it to another agent.
  maxQueued: v.optional(int(0, 65536), "256"),
  outboxMaxMb: v.optional(int(1, 1024 * 1024), "512"),
  cacheMaxMb: v.optional(int(16, 16 * 1024 * 1024), "10240"),
  cacheTtlHours: v.optional(int(1, 24 * 365), "168"),
  maxModelMb: v.optional(int(1, 16 * 1024), "4096"),
  modelDirs: v.optional(FolderList, ""),
  allowHttpSources: v.optional(Flag, "false"),
  allowPrivateSources: v.optional(Flag, "false"),
  executionProvider: v.optional(oneOf(["auto", "cpu", "cuda"]), "auto"),
  threads: v.optional(int(0, 256), "0"),
  graphOpt: v.optional(oneOf(["disabled", "basic", "extended", "all"]), "all"),
  sessionPool: v.optional(int(1, 256), "8"),
  // One model run past this is stopped (MODEL_TIMEOUT); outputs past this are refused.
  maxRunSeconds: v.optional(int(1, 24 * 3600), "60"),
  maxOutputMb: v.optional(int(1, 64 * 1024), "256"),
  // Memory one model run may take; unset: three quarters of the machine's (on the CPU).
  maxModelMemoryMb: v.optional(int(64, 64 * 1024 * 1024)),
  python: v.optional(oneOf(["auto", "off"]), "auto"),
  logLevel: v.optional(oneOf(["debug", "info", "warn", "error"]), "info"),
});

export interface AgentConfig {
  /** ws(s) base URL of the gateway, or undefined when not configured. */
  gateway: string | undefined;
  dataDir: string;
  privateKey: `0x${string}` | undefined;
  /** A file holding the key (instead of `<dataDir>/agent.key`). */
  privateKeyFile: string | undefined;
  /**
   * The signing domain receipts are signed for: a gateway whose challenge names another
   * chain or payment contract is refused. Required for a gateway not on this machine.
   */
  pinnedDomain: { chainId: number; verifyingContract: `0x${string}` } | undefined;
  /** The chain's JSON-RPC URL: where `earnings` and `withdraw` read and write. */
  rpcUrl: string | undefined;
  subnets: string[];
  maxConcurrency: number;
  maxQueued: number;
  /** Unacknowledged results kept (bytes) before new tasks are refused. */
  outboxMaxBytes: number;
  cacheMaxBytes: number;
  cacheTtlMs: number;
  /** Largest declared model size the agent downloads. */
  maxModelBytes: number;
  /** Which model sources may be fetched: the operator's choice, never the gateway's. */
  sources: SourcePolicy;
  executionProvider: "auto" | "cpu" | "cuda";
  threads: number;
  graphOptimization: GraphOptimization;
  sessionPool: number;
  /** Longest one model run may take once started (ms). */
  maxRunMs: number;
  /** Largest outputs of one run, in all (bytes). */
  maxOutputBytes: number;
  /** Memory one model run may take (bytes): the process's data limit above its size at start. */
  maxModelMemoryBytes: number;
  /** `maxModelMemoryBytes` was set by the operator (then it applies on a GPU too). */
  modelMemorySet: boolean;
  python: "auto" | "off";
  logLevel: Exclude<LogLevel, "silent">;
}

export function defaultDataDir(env: Record<string, string | undefined>): string {
  const base =
    env.XDG_DATA_HOME && env.XDG_DATA_HOME !== "" ? env.XDG_DATA_HOME : join(homedir(), ".local", "share");
  return join(base, "ncn-agent");
}

export interface LoadConfigOptions {
  /** Settings that must be present (e.g. `gateway` and `subnets` to run). */
  require?: SettingName[];
}

/**
 * Reads the configuration from flags (first) and environment variables, validates
 * every setting and throws a `ConfigError` listing every problem at once.
 *
 * @example loadConfig({ gateway: "ws://127.0.0.1:8787" }, process.env, { require: ["gateway", "subnets"] })
 */
export function loadConfig(
  flags: RawSettings,
  env: Record<string, string | undefined>,
  options: LoadConfigOptions = {},
): AgentConfig {
  const raw: Record<string, string> = {};
  const origin: Record<string, string> = {};
  for (const [name, s] of Object.entries(SETTINGS) as [SettingName, (typeof SETTINGS)[SettingName]][]) {
    const fromFlag = flags[name];
    const fromEnv = env[s.env];
    if (fromFlag !== undefined) {
      raw[name] = fromFlag;
      origin[name] = `--${s.flag}`;
    } else if (fromEnv !== undefined && fromEnv !== "") {
      raw[name] = fromEnv;
      origin[name] = s.env;
    }
  }
  const problems: string[] = [];
  const parsed = v.safeParse(ConfigSchema, raw);
  if (!parsed.success) {
    for (const issue of parsed.issues) {
      const key = String(issue.path?.[0]?.key ?? "");
      const s = SETTINGS[key as SettingName];
      const value = raw[key];
      const shown = key === "privateKey" ? "(hidden)" : JSON.stringify(value);
      problems.push(s ? `${origin[key] ?? `--${s.flag}`}: ${issue.message}, got ${shown}` : issue.message);
    }
  }
  const c0 = parsed.success ? parsed.output : undefined;
  if (c0 && (c0.chainId === undefined) !== (c0.paymentContract === undefined)) {
    problems.push("--chain-id (NCN_CHAIN_ID) and --payment-contract (NCN_PAYMENT_CONTRACT) go together");
  }
  if (c0?.gateway && !isLoopbackHost(new URL(c0.gateway).hostname) && c0.chainId === undefined) {
    // A remote gateway must not choose the chain and contract the agent signs receipts for.
    problems.push(
      "--chain-id (NCN_CHAIN_ID) and --payment-contract (NCN_PAYMENT_CONTRACT) are required for a gateway that is not on this machine",
    );
  }
  if (c0?.privateKey && c0.privateKeyFile) {
    problems.push("--private-key-file (NCN_PRIVATE_KEY_FILE) and a private key cannot both be given");
  }
  for (const name of options.require ?? []) {
    const present =
      name === "subnets" ? (parsed.output as { subnets?: string[] }).subnets?.length : raw[name];
    if (!present) {
      const s = SETTINGS[name];
      problems.push(`--${s.flag} (${s.env}) is required`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  const c = parsed.output;
  return {
    gateway: c.gateway,
    dataDir: c.dataDir ?? defaultDataDir(env),
    privateKey: c.privateKey,
    privateKeyFile: c.privateKeyFile,
    pinnedDomain:
      c.chainId !== undefined && c.paymentContract !== undefined
        ? { chainId: c.chainId, verifyingContract: c.paymentContract }
        : undefined,
    rpcUrl: c.rpcUrl,
    subnets: c.subnets,
    maxConcurrency: c.maxConcurrency,
    maxQueued: c.maxQueued,
    outboxMaxBytes: c.outboxMaxMb * 1024 * 1024,
    cacheMaxBytes: c.cacheMaxMb * 1024 * 1024,
    cacheTtlMs: c.cacheTtlHours * 3_600_000,
    maxModelBytes: c.maxModelMb * 1024 * 1024,
    sources: {
      allowHttp: c.allowHttpSources,
      allowPrivateHosts: c.allowPrivateSources,
      localDirs: c.modelDirs,
    },
    executionProvider: c.executionProvider,
    threads: c.threads,
    graphOptimization: c.graphOpt,
    sessionPool: c.sessionPool,
    maxRunMs: c.maxRunSeconds * 1000,
    maxOutputBytes: c.maxOutputMb * 1024 * 1024,
    maxModelMemoryBytes:
      c.maxModelMemoryMb === undefined ? defaultModelMemoryBytes() : c.maxModelMemoryMb * 1024 * 1024,
    modelMemorySet: c.maxModelMemoryMb !== undefined,
    python: c.python,
    logLevel: c.logLevel,
  };
}
