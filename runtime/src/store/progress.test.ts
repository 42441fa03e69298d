import { expect, test } from "bun:test";
import * as v from "valibot";
import { createLogger } from "../log/logger.ts";
import { createProgressReporter } from "./progress.ts";

test("without a terminal, progress goes out as throttled JSON lines ending with done", () => {
  const lines: string[] = [];
  const log = createLogger("test", { sink: (l) => lines.push(l) });
  const report = createProgressReporter({
    log,
    stream: { isTTY: false } as NodeJS.WriteStream,
    intervalMs: 60_000,
  });
  const p = { model: "m", source: "http://x/m", total: 100 };
  report({ ...p, received: 10, done: false });
  report({ ...p, received: 20, done: false }); // throttled
  report({ ...p, received: 100, done: true });
  const parsed = lines.map((l) => v.parse(v.record(v.string(), v.unknown()), JSON.parse(l)));
  expect(parsed.map((l) => l.received)).toEqual([10, 100]);
  expect(parsed[1]).toMatchObject({
    msg: "download progress",
    model: "m",
    percent: 100,
    done: true,
    component: "test",
  });
});
