import { describe, expect, test } from "bun:test";
import { applyReputationEvent, emptyReputation } from "./score.ts";

describe("applyReputationEvent", () => {
  test("points: +1 success, -2 failure, -5 timeout, -20 per slashing offence", () => {
    let r = emptyReputation("0x0000000000000000000000000000000000000001");
    for (const kind of ["success", "success", "failure", "timeout", "spot_check_failed", "slash"] as const) {
      r = applyReputationEvent(r, { kind, at: 1 });
    }
    expect(r.score).toBe(2 - 2 - 5 - 20 - 20);
    expect([r.successes, r.failures, r.timeouts, r.failedSpotChecks, r.slashes]).toEqual([2, 1, 1, 1, 2]);
  });

  test("latency is an exponentially weighted moving average", () => {
    let r = emptyReputation("0x0000000000000000000000000000000000000001");
    r = applyReputationEvent(r, { kind: "success", latencyMs: 100, at: 1 });
    expect(r.latencyEwmaMs).toBe(100);
    r = applyReputationEvent(r, { kind: "success", latencyMs: 200, at: 2 });
    expect(r.latencyEwmaMs).toBeCloseTo(120, 9);
    r = applyReputationEvent(r, { kind: "failure", at: 3 });
    expect(r.latencyEwmaMs).toBeCloseTo(120, 9);
    expect(r.updatedAt).toBe(3);
  });
});
