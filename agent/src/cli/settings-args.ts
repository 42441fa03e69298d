import type { ArgsDef } from "citty";
import { type RawSettings, SETTINGS, type SettingName } from "../config/config.ts";
import { ConfigError } from "../errors.ts";

const HELP: Record<SettingName, string> = {
  gateway: "gateway URL, e.g. wss://gateway.example (env NCN_GATEWAY)",
  dataDir: "folder for the key, model cache and outbox (env NCN_DATA_DIR)",
  privateKey:
    "refused as a flag (it would show in the process list): set NCN_PRIVATE_KEY or use --private-key-file (default: generated into the data folder)",
  privateKeyFile: "file holding the agent private key, mode 0600 (env NCN_PRIVATE_KEY_FILE)",
  chainId: "chain id receipts are signed for; the gateway's challenge must name it (env NCN_CHAIN_ID)",
  paymentContract:
    "payment contract receipts are signed for; the gateway's challenge must name it (env NCN_PAYMENT_CONTRACT)",
  maxQueued:
    "tasks accepted beyond those running; more are refused as UNAVAILABLE (env NCN_MAX_QUEUED, default 256)",
  outboxMaxMb:
    "unacknowledged results kept, in MB; past it new tasks are refused (env NCN_OUTBOX_MAX_MB, default 512)",
  rpcUrl: "chain JSON-RPC URL that earnings and withdraw use (env NCN_RPC_URL)",
  subnets: "subnet(s) to serve, comma-separated (env NCN_SUBNETS)",
  maxConcurrency: "tasks in flight at once (env NCN_MAX_CONCURRENCY, default 64)",
  cacheMaxMb: "model cache budget in MB (env NCN_CACHE_MAX_MB, default 10240)",
  cacheTtlHours: "evict models unused this long (env NCN_CACHE_TTL_HOURS, default 168)",
  maxModelMb: "refuse models declaring more MB than this (env NCN_MAX_MODEL_MB, default 4096)",
  modelDirs: "folder whose files file: model sources may name, repeatable (env NCN_MODEL_DIRS)",
  allowHttpSources: "fetch plain http:// model sources: true | false (env NCN_ALLOW_HTTP_SOURCES)",
  allowPrivateSources:
    "local development only: fetch models from loopback/private hosts (env NCN_ALLOW_PRIVATE_SOURCES)",
  executionProvider: "auto | cpu | cuda (env NCN_EXECUTION_PROVIDER, default auto)",
  threads: "onnxruntime intra-op threads, 0 = default (env NCN_THREADS)",
  graphOpt: "graph optimisation: disabled | basic | extended | all (env NCN_GRAPH_OPT)",
  sessionPool: "warm model sessions kept (env NCN_SESSION_POOL, default 8)",
  maxRunSeconds: "longest one model run, then MODEL_TIMEOUT (env NCN_MAX_RUN_SECONDS, default 60)",
  maxOutputMb: "largest outputs of one run, then MODEL_LIMIT_EXCEEDED (env NCN_MAX_OUTPUT_MB, default 256)",
  maxModelMemoryMb:
    "memory one model run may take, then MODEL_LIMIT_EXCEEDED (env NCN_MAX_MODEL_MEMORY_MB, default 3/4 of the machine's; on a GPU only when set)",
  python: "offer the sandboxed Python runtime: auto | off (env NCN_PYTHON)",
  logLevel: "debug | info | warn | error (env NCN_LOG_LEVEL, default info)",
};

/** One string flag per setting, named as `SETTINGS` says. */
export const SETTING_ARGS = Object.fromEntries(
  (Object.keys(SETTINGS) as SettingName[]).map((name) => [
    SETTINGS[name].flag,
    { type: "string", description: HELP[name] } as const,
  ]),
) as Record<string, { type: "string"; description: string }> satisfies ArgsDef;

/**
 * The settings given as flags (repeated flags joined with commas). A key given as a flag is
 * refused: every local user can read a process's command line.
 */
export function settingsFromArgs(args: Record<string, unknown>): RawSettings {
  if (args[SETTINGS.privateKey.flag] !== undefined) {
    throw new ConfigError([
      "--private-key is refused: a key on the command line shows to every local user in the process list; set NCN_PRIVATE_KEY, use --private-key-file, or let the agent keep its key in the data folder",
    ]);
  }
  const out: RawSettings = {};
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const raw = args[SETTINGS[name].flag];
    if (typeof raw === "string") out[name] = raw;
    else if (Array.isArray(raw)) out[name] = raw.map(String).join(",");
  }
  return out;
}
