/** JSON-line logger scoped to a component; fields such as requestId go in `extra`. */
export interface Logger {
  info(msg: string, extra?: Record<string, unknown>): void;
  warn(msg: string, extra?: Record<string, unknown>): void;
  error(msg: string, extra?: Record<string, unknown>): void;
}

export function logger(component: string): Logger {
  const emit = (level: string, msg: string, extra?: Record<string, unknown>) => {
    const line = JSON.stringify({ t: new Date().toISOString(), level, component, msg, ...extra });
    if (level === "error") console.error(line);
    else console.log(line);
  };
  return {
    info: (m, e) => emit("info", m, e),
    warn: (m, e) => emit("warn", m, e),
    error: (m, e) => emit("error", m, e),
  };
}
