/** Severity of a log line; `silent` drops everything (tests). */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose lines carry extra fields, e.g. `{ requestId }`. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where each JSON line goes; stderr by default so stdout stays for command output. */
  sink?: (line: string) => void;
}

function defaultSink(line: string): void {
  process.stderr.write(`${line}\n`);
}

function serialise(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: value.message, ...(code === undefined ? {} : { code }) };
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

/**
 * JSON-lines logger: one object per line with time, level, component and message.
 *
 * @example createLogger("agent:link").child({ requestId: "r1" }).info("task started")
 */
export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const threshold = RANK[options.level ?? "info"];
  const sink = options.sink ?? defaultSink;
  const make = (bound: LogFields): Logger => {
    const write = (level: Exclude<LogLevel, "silent">, msg: string, fields?: LogFields) => {
      if (RANK[level] < threshold) return;
      const entry: LogFields = { t: new Date().toISOString(), level, component, msg, ...bound };
      if (fields) for (const [k, v] of Object.entries(fields)) entry[k] = serialise(v);
      sink(JSON.stringify(entry, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)));
    };
    return {
      debug: (m, f) => write("debug", m, f),
      info: (m, f) => write("info", m, f),
      warn: (m, f) => write("warn", m, f),
      error: (m, f) => write("error", m, f),
      child: (fields) => make({ ...bound, ...fields }),
    };
  };
  return make({});
}

/** A logger that drops every line. */
export const silentLogger: Logger = createLogger("silent", { level: "silent" });
