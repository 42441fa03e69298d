import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { parseArgs } from "node:util";
import { multiaddr } from "@multiformats/multiaddr";
import { Address, issuesOf } from "@ncn/protocol";
import { isLoopbackUrl, isPublishedDevKey } from "@ncn/protocol/devnet-keys";
import * as v from "valibot";
import { privateKeyToAccount } from "viem/accounts";
import { DEFAULT_SPOT_CHECK_ATOL, DEFAULT_SPOT_CHECK_RTOL } from "./constants.ts";
import { ConfigError } from "./errors.ts";
import { LOG_LEVELS } from "./logger.ts";

const Multiaddr = v.pipe(
  v.string(),
  v.check((s) => {
    try {
      multiaddr(s);
      return true;
    } catch {
      return false;
    }
  }, "expected a multiaddr such as /ip4/127.0.0.1/tcp/0"),
);

const PrivateKeyHex = v.pipe(
  v.string(),
  v.regex(/^0x[0-9a-fA-F]{64}$/, "expected a secp256k1 private key as 0x + 64 hex digits"),
  v.transform((s) => s.toLowerCase() as `0x${string}`),
);

const Fraction = v.pipe(v.number(), v.minValue(0), v.maxValue(1));

/** Everything a registry node needs, after defaults. Strings from flags/env are coerced first. */
export const RegistryConfig = v.pipe(
  v.object({
    /** Folder holding the peer key and the SQLite database. */
    dataDir: v.pipe(v.string(), v.minLength(1)),
    /** libp2p private key file (protobuf); generated into `<dataDir>/peer.key` when absent. */
    peerKeyFile: v.optional(v.pipe(v.string(), v.minLength(1))),
    /** EVM key this node signs attestations and its validator record with. */
    validatorKey: v.optional(PrivateKeyHex),
    listen: v.optional(v.pipe(v.array(Multiaddr), v.minLength(1)), ["/ip4/127.0.0.1/tcp/0"]),
    bootstrap: v.optional(v.array(Multiaddr), []),
    httpHost: v.optional(v.pipe(v.string(), v.minLength(1)), "127.0.0.1"),
    httpPort: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)), 4747),
    /** URL other parties reach this node's HTTP API at (published in the validator record). */
    publicUrl: v.optional(v.pipe(v.string(), v.url())),
    rpcUrl: v.optional(v.pipe(v.string(), v.url())),
    paymentContract: v.optional(Address),
    validatorRegistry: v.optional(Address),
    /** Share of completions this node re-executes itself. */
    spotCheckFraction: v.optional(Fraction, 0.05),
    spotCheckAtol: v.optional(v.pipe(v.number(), v.minValue(0)), DEFAULT_SPOT_CHECK_ATOL),
    spotCheckRtol: v.optional(v.pipe(v.number(), v.minValue(0)), DEFAULT_SPOT_CHECK_RTOL),
    /**
     * Folders whose `file:` model sources this node's spot checks may read (the agents' own
     * rule: every other `file:` source is refused). Empty in production.
     */
    modelDirs: v.optional(v.array(v.pipe(v.string(), v.minLength(1))), []),
    /**
     * Gateways this node serves: the only callers of its validation API and mempool (by
     * their signed token), and the reporters whose signed reputation reports it accepts.
     */
    trustedGateways: v.optional(v.array(Address), []),
    logLevel: v.optional(v.picklist(LOG_LEVELS), "info"),
  }),
  v.check(
    (c) => (c.rpcUrl === undefined) === (c.paymentContract === undefined),
    "rpcUrl and paymentContract go together: give both or neither",
  ),
  // Anyone can derive a published development key: with a real chain it signs attestations and
  // settlements anyone could forge.
  v.check(
    (c) =>
      c.validatorKey === undefined ||
      c.rpcUrl === undefined ||
      isLoopbackUrl(c.rpcUrl) ||
      !isPublishedDevKey(privateKeyToAccount(c.validatorKey).address),
    "validatorKey is a published development key: use your own key with a chain that is not on this machine",
  ),
  v.check(
    (c) => c.validatorRegistry === undefined || c.paymentContract !== undefined,
    "validatorRegistry needs rpcUrl and paymentContract",
  ),
);
export type RegistryConfig = v.InferOutput<typeof RegistryConfig>;
export type RegistryConfigInput = v.InferInput<typeof RegistryConfig>;

/** Flag name -> config field, environment variable, and how the string is read. */
const SETTINGS = {
  "data-dir": { field: "dataDir", env: "NCN_DATA_DIR", kind: "string" },
  "peer-key-file": { field: "peerKeyFile", env: "NCN_PEER_KEY_FILE", kind: "string" },
  "validator-key": { field: "validatorKey", env: "NCN_VALIDATOR_KEY", kind: "string" },
  listen: { field: "listen", env: "NCN_LISTEN", kind: "list" },
  bootstrap: { field: "bootstrap", env: "NCN_BOOTSTRAP", kind: "list" },
  "http-host": { field: "httpHost", env: "NCN_HTTP_HOST", kind: "string" },
  "http-port": { field: "httpPort", env: "NCN_HTTP_PORT", kind: "number" },
  "public-url": { field: "publicUrl", env: "NCN_PUBLIC_URL", kind: "string" },
  "rpc-url": { field: "rpcUrl", env: "NCN_RPC_URL", kind: "string" },
  "payment-contract": { field: "paymentContract", env: "NCN_PAYMENT_CONTRACT", kind: "string" },
  "validator-registry": { field: "validatorRegistry", env: "NCN_VALIDATOR_REGISTRY", kind: "string" },
  "spot-check-fraction": { field: "spotCheckFraction", env: "NCN_SPOT_CHECK_FRACTION", kind: "number" },
  "spot-check-atol": { field: "spotCheckAtol", env: "NCN_SPOT_CHECK_ATOL", kind: "number" },
  "spot-check-rtol": { field: "spotCheckRtol", env: "NCN_SPOT_CHECK_RTOL", kind: "number" },
  "model-dir": { field: "modelDirs", env: "NCN_MODEL_DIRS", kind: "list" },
  "trusted-gateway": { field: "trustedGateways", env: "NCN_TRUSTED_GATEWAYS", kind: "list" },
  "log-level": { field: "logLevel", env: "NCN_LOG_LEVEL", kind: "string" },
} as const;

export const CONFIG_USAGE = `usage: bun registry/src/main.ts [flags]   (each flag also reads NCN_* from the environment)
${Object.entries(SETTINGS)
  .map(
    ([flag, s]) =>
      `  --${flag.padEnd(20)} ${s.env}${s.kind === "list" ? " (repeat the flag, or comma-separate)" : ""}`,
  )
  .join("\n")}
  --validator-key-file   NCN_VALIDATOR_KEY_FILE (file holding the key)
  (the key itself only from NCN_VALIDATOR_KEY: --validator-key is refused, a flag shows in the process list)`;

function coerce(kind: "string" | "number" | "list", raw: string | string[]): unknown {
  if (kind === "list") {
    const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((s) => s.split(","));
    return parts.map((s) => s.trim()).filter((s) => s !== "");
  }
  const one = Array.isArray(raw) ? raw[raw.length - 1] : raw;
  if (kind === "number") return one === undefined || one.trim() === "" ? one : Number(one);
  return one;
}

/**
 * Reads config from flags (which win) and `NCN_*` environment variables, applies defaults and
 * checks every field. Throws a `ConfigError` listing every problem.
 *
 * @example const config = loadConfig(process.argv.slice(2), process.env)
 */
export function loadConfig(argv: readonly string[], env: Record<string, string | undefined>): RegistryConfig {
  const problems: string[] = [];
  const options: Record<string, { type: "string"; multiple: boolean }> = {};
  for (const [flag, s] of Object.entries(SETTINGS))
    options[flag] = { type: "string", multiple: s.kind === "list" };
  options["validator-key-file"] = { type: "string", multiple: false };
  let flags: Record<string, string | string[] | boolean | undefined> = {};
  try {
    flags = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    problems.push(e instanceof Error ? e.message : String(e));
  }
  if (flags["validator-key"] !== undefined) {
    // Every local user can read a process's command line.
    problems.push(
      "--validator-key is refused: a key on the command line shows to every local user in the process list; set NCN_VALIDATOR_KEY or use --validator-key-file",
    );
    delete flags["validator-key"];
  }
  const raw: Record<string, unknown> = { dataDir: ".ncn/registry" };
  for (const [flag, s] of Object.entries(SETTINGS)) {
    const fromFlag = flags[flag];
    const fromEnv = env[s.env];
    const value = typeof fromFlag === "string" || Array.isArray(fromFlag) ? fromFlag : fromEnv;
    if (value !== undefined && value !== "") raw[s.field] = coerce(s.kind, value);
  }
  const keyFile = flags["validator-key-file"] ?? env.NCN_VALIDATOR_KEY_FILE;
  if (typeof keyFile === "string" && keyFile !== "") {
    if (raw.validatorKey !== undefined)
      problems.push("give NCN_VALIDATOR_KEY or --validator-key-file, not both");
    try {
      raw.validatorKey = readFileSync(keyFile, "utf8").trim();
    } catch (e) {
      problems.push(
        `validatorKeyFile: cannot read ${keyFile}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
  const parsed = v.safeParse(RegistryConfig, raw);
  if (!parsed.success) {
    for (const issue of issuesOf(parsed.issues)) problems.push(`${issue.path}: ${issue.message}`);
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return parsed.output;
}

/** Applies defaults to a config given in code (tests, benchmarks, the devnet). */
export function resolveConfig(input: RegistryConfigInput): RegistryConfig {
  const parsed = v.safeParse(RegistryConfig, input);
  if (!parsed.success) throw new ConfigError(issuesOf(parsed.issues).map((i) => `${i.path}: ${i.message}`));
  return parsed.output;
}

/**
 * The config with every path made absolute against `base` (the folder the process was started
 * in). Runs before the node enters its private working folder: after that, a relative path
 * would resolve inside that empty folder, not where the operator meant.
 *
 * @example const config = withAbsolutePaths(loadConfig(argv, env), process.cwd())
 */
export function withAbsolutePaths(config: RegistryConfig, base: string): RegistryConfig {
  const absolute = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  return {
    ...config,
    dataDir: absolute(config.dataDir),
    ...(config.peerKeyFile === undefined ? {} : { peerKeyFile: absolute(config.peerKeyFile) }),
    modelDirs: config.modelDirs.map(absolute),
  };
}
