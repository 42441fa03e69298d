import { Address, BaseError, issuesOf } from "@ncn/protocol";
import { isLoopbackUrl, isPublishedDevKey } from "@ncn/protocol/devnet-keys";
import * as v from "valibot";
import { privateKeyToAccount } from "viem/accounts";
import { logger } from "./log.ts";

/**
 * Bindings, vars and secrets: `Cloudflare.Env` is generated from wrangler.toml and
 * .dev.vars.example into edge-gateway/worker-configuration.d.ts (`npm run types:gateway`).
 * Every var is a plain string there, and an operator may leave any of them out: the
 * gateway reads them only through {@link configOf}, which parses and checks each one.
 */
export type Env = Cloudflare.Env;

const intString = (min: number, max: number) =>
  v.pipe(
    v.string(),
    v.regex(/^\d+$/, "expected an integer"),
    v.transform(Number),
    v.minValue(min),
    v.maxValue(max),
  );

const ConfigSchema = v.pipe(
  v.object({
    CHAIN_ID: intString(1, 2 ** 40),
    RPC_URL: v.pipe(v.string(), v.url("RPC_URL must be a URL")),
    PAYMENT_CONTRACT: Address,
    VALIDATOR_REGISTRY: Address,
    TOKEN_CONTRACT: Address,
    REGISTRY_URLS: v.pipe(
      v.string(),
      v.transform((s) =>
        s
          .split(",")
          .map((u) => u.trim())
          .filter(Boolean),
      ),
      v.array(v.pipe(v.string(), v.url("REGISTRY_URLS must be comma-separated URLs"))),
      v.minLength(1, "REGISTRY_URLS needs at least one validator URL"),
    ),
    VALIDATION_THRESHOLD: v.optional(intString(1, 100), "2"),
    GATEWAY_PRIVATE_KEY: v.pipe(
      v.string(),
      v.regex(/^0x[0-9a-fA-F]{64}$/, "GATEWAY_PRIVATE_KEY must be 0x + 64 hex digits"),
    ),
    SUBNET_SHARDS: v.optional(intString(1, 1024), "1"),
    SETTLE_EVERY: v.optional(intString(1, 10_000), "100"),
    SETTLE_INTERVAL_MS: v.optional(intString(100, 3_600_000), "5000"),
    // How long the validators that attested a charge may stay unreachable (or a voucher gap
    // left by a release stay open) before the charge is released: the client is not charged.
    SETTLE_RELEASE_AFTER_MS: v.optional(intString(1_000, 7 * 24 * 3_600_000), "300000"),
    MAX_BODY_BYTES: v.optional(intString(1024, 100 * 1024 * 1024), String(16 * 1024 * 1024)),
    RATE_LIMIT_PER_MINUTE: v.optional(intString(1, 10_000_000), "600000"),
    TASK_TIMEOUT_MS: v.optional(intString(100, 600_000), "30000"),
    MAX_ATTEMPTS: v.optional(intString(1, 10), "3"),
    NO_AGENT_WAIT_MS: v.optional(intString(0, 600_000), "3000"),
    // Agents without a live socket for this long are forgotten (a reconnect says hello again).
    AGENT_ROW_TTL_MS: v.optional(intString(1_000, 7 * 24 * 3_600_000), "3600000"),
    // Agent rows one subnet shard keeps: a subnet holds at most SUBNET_SHARDS times this many.
    MAX_AGENTS_PER_SHARD: v.optional(intString(1, 1_000_000), "4096"),
    // How long an ended request stays readable (state, result, receipt) before its record is deleted.
    REQUEST_RETENTION_MS: v.optional(intString(1_000, 30 * 24 * 3_600_000), "86400000"),
    // Longest a stream's delivered result waits to be charged together with others.
    STREAM_COMMIT_DELAY_MS: v.optional(intString(0, 3_600_000), "100"),
  }),
  // Anyone can derive a published development key: with a real chain, whoever does can sign
  // as this gateway (settle its batches, answer its agents).
  v.forward(
    v.check(
      (c) =>
        isLoopbackUrl(c.RPC_URL) ||
        !isPublishedDevKey(privateKeyToAccount(c.GATEWAY_PRIVATE_KEY as `0x${string}`).address),
      "GATEWAY_PRIVATE_KEY is a published development key: use your own key with a chain that is not on this machine",
    ),
    ["GATEWAY_PRIVATE_KEY"],
  ),
);

export type Config = v.InferOutput<typeof ConfigSchema>;

let cached: { env: Env; config: Config } | undefined;
let loggedFor: Env | undefined;
const log = logger("gateway:config");

/**
 * Parses the gateway's configuration from its bindings, once per isolate. A bad
 * configuration answers every request with a 503 that lists every problem.
 */
export function configOf(env: Env): Config {
  if (cached?.env === env) return cached.config;
  const r = v.safeParse(ConfigSchema, env);
  if (!r.success) {
    const issues = issuesOf(r.issues);
    // Only the names of the bad settings are public: a message may quote the value (a key, an
    // RPC URL with its API key). The operator finds the full messages in the log.
    if (loggedFor !== env) {
      loggedFor = env;
      log.error("gateway is misconfigured", { problems: issues.map((i) => `${i.path}: ${i.message}`) });
    }
    const settings = [...new Set(issues.map((i) => i.path))];
    throw new BaseError("UNAVAILABLE", `gateway is misconfigured: check ${settings.join(", ")}`, {
      details: { settings },
    });
  }
  cached = { env, config: r.output };
  return r.output;
}
