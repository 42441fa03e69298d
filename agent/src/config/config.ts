import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { SubnetId } from "@ncn/protocol";
import * as v from "valibot";
import { ConfigError } from "../errors.ts";
import { PrivateKey } from "../identity/identity.ts";
import type { LogLevel } from "../log/logger.ts";
import type { GraphOptimization } from "../runtimes/onnx/onnx-runtime.ts";
import type { SourcePolicy } from "../store/source-policy.ts";

/** Every setting: its command-line flag and its environment variable. */
export const SETTINGS = {
  gateway: { flag: "gateway", env: "NCN_GATEWAY" },
  dataDir: { flag: "data-dir", env: "NCN_DATA_DIR" },
  privateKey: { flag: "private-key", env: "NCN_PRIVATE_KEY" },
  subnets: { flag: "subnet", env: "NCN_SUBNETS" },
  maxConcurrency: { flag: "max-concurrency", env: "NCN_MAX_CONCURRENCY" },
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

/** A gateway base URL; http(s) is turned into ws(s), the path is kept. */
const GatewayUrl = v.pipe(
  v.string(),
  v.trim(),
  v.check((s) => URL.canParse(s), "must be a URL such as wss://gateway.example or ws://127.0.0.1:8787"),
  v.transform((s) => new URL(s)),
  v.check(
    (u) => ["ws:", "wss:", "http:", "https:"].includes(u.protocol),
    "must use ws://, wss://, http:// or https://",
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
  subnets: v.optional(SubnetList, ""),
  // Tasks a gateway may keep in flight here: enough to pipeline small tasks through the
  // inference thread; OCR pipelines also take one of a few per-core slots in the executor.
  maxConcurrency: v.optional(int(1, 1024), "64"),
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
  python: v.optional(oneOf(["auto", "off"]), "auto"),
  logLevel: v.optional(oneOf(["debug", "info", "warn", "error"]), "info"),
});

export interface AgentConfig {
  /** ws(s) base URL of the gateway, or undefined when not configured. */
  gateway: string | undefined;
  dataDir: string;
  privateKey: `0x${string}` | undefined;
  subnets: string[];
  maxConcurrency: number;
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
    subnets: c.subnets,
    maxConcurrency: c.maxConcurrency,
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
    python: c.python,
    logLevel: c.logLevel,
  };
}
