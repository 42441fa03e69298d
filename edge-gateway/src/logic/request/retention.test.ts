import { describe, expect, test } from "bun:test";
import { CONFIG, record, T0 } from "./fixtures.ts";
import { forgetAt, forgettable, step } from "./index.ts";

const HOUR = 3_600_000;

describe("request retention", () => {
  test("a running request is never forgotten, however old", () => {
    const running = step(record(), { type: "submitted" }, T0, CONFIG).state;
    expect(forgetAt(running, HOUR)).toBeUndefined();
    expect(forgettable(running, T0 + 1000 * HOUR, HOUR)).toBe(false);
  });

  test("an ended request is kept for the retention after its last change, then forgotten", () => {
    const submitted = step(record(), { type: "submitted" }, T0, CONFIG).state;
    const cancelled = step(submitted, { type: "cancel" }, T0 + 50, CONFIG).state;
    expect(cancelled.state).toBe("cancelled");
    expect(forgetAt(cancelled, HOUR)).toBe(T0 + 50 + HOUR);
    expect(forgettable(cancelled, T0 + 50 + HOUR - 1, HOUR)).toBe(false);
    expect(forgettable(cancelled, T0 + 50 + HOUR, HOUR)).toBe(true);
  });
});
