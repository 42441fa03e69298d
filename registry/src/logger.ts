/** Log levels in increasing severity; `silent` turns a logger off. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  readonly component: string;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger for a sub-component, e.g. `registry:gossip` -> `registry:gossip:heartbeat`. */
  child(name: string): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Fields added to every line (e.g. the node's peer id). */
  base?: Record<string, unknown>;
  write?: (line: string) => void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

function serialise(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: value.message, ...(code === undefined ? {} : { code }) };
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

/**
 * A component-scoped logger writing one JSON object per line to stderr.
 *
 * @example createLogger("registry:dht", { level: "info" }).info("put", { key })
 */
export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[lvl] < RANK[level]) return;
    const out: Record<string, unknown> = { t: new Date().toISOString(), level: lvl, component, msg };
    if (options.base) Object.assign(out, options.base);
    if (fields) for (const [k, v] of Object.entries(fields)) out[k] = serialise(v);
    write(JSON.stringify(out));
  };
  return {
    component,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (name) => createLogger(`${component}:${name}`, options),
  };
}
