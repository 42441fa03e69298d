import type { Logger } from "../logger.ts";

/**
 * Process-level guard for entry points that run libp2p nodes under Bun. @libp2p/tcp hands
 * a dial's AbortSignal to `net.connect` and drops its 'error' listener when the dial is
 * aborted, so the socket's own AbortError is then emitted with no listener and would kill
 * the process. That error is harmless (the dial already failed); anything else uncaught
 * still ends the process.
 */
export function guardAbortedSockets(log: Logger): void {
  process.on("uncaughtException", (err) => {
    // An AbortError reaching here is always an operation someone already gave up on.
    if (err instanceof Error && err.name === "AbortError") {
      log.debug("ignored AbortError of an aborted socket", { err });
      return;
    }
    log.error("uncaught exception", { err, stack: err instanceof Error ? err.stack : undefined });
    process.exit(1);
  });
}
