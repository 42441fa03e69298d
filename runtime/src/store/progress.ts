import cliProgress from "cli-progress";
import type { Logger } from "../log/logger.ts";

export interface DownloadProgress {
  model: string;
  source: string;
  received: number;
  total: number;
  done: boolean;
}

export type ProgressListener = (p: DownloadProgress) => void;

export interface ProgressReporterOptions {
  /** A progress bar on this stream when it is a terminal; JSON lines through `log` otherwise. */
  stream?: NodeJS.WriteStream;
  log: Logger;
  /** Least time between two JSON progress lines of one download (ms). */
  intervalMs?: number;
}

/**
 * Reports download progress the way the environment can show it: a bar on a terminal,
 * throttled JSON lines (`download progress`) when output goes to a file or a collector.
 */
export function createProgressReporter(options: ProgressReporterOptions): ProgressListener {
  const stream = options.stream ?? process.stderr;
  if (stream.isTTY) {
    const bars = new Map<string, cliProgress.SingleBar>();
    return (p) => {
      let bar = bars.get(p.model);
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: `${p.model} [{bar}] {percentage}% {value}/{total} bytes`,
            hideCursor: true,
            clearOnComplete: false,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(p.total, p.received);
        bars.set(p.model, bar);
      }
      bar.update(p.received);
      if (p.done) {
        bar.stop();
        bars.delete(p.model);
      }
    };
  }
  const interval = options.intervalMs ?? 1000;
  const last = new Map<string, number>();
  return (p) => {
    const now = Date.now();
    const prev = last.get(p.model);
    if (!p.done && prev !== undefined && now - prev < interval) return;
    last.set(p.model, now);
    if (p.done) last.delete(p.model);
    options.log.info("download progress", {
      model: p.model,
      source: p.source,
      received: p.received,
      total: p.total,
      percent: p.total > 0 ? Math.round((p.received / p.total) * 1000) / 10 : 0,
      done: p.done,
    });
  };
}
