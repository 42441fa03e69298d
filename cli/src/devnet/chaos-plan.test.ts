import { expect, test } from "bun:test";
import { planKills, prng } from "./chaos-plan.ts";

const base = { requests: 2_000, kills: 12, agents: 2, validators: 3 };

test("the same seed plans the same kills; another seed plans others", () => {
  expect(planKills({ ...base, seed: 7 })).toEqual(planKills({ ...base, seed: 7 }));
  expect(planKills({ ...base, seed: 7 })).not.toEqual(planKills({ ...base, seed: 8 }));
  expect(prng(1)()).toBe(prng(1)());
});

test("every kind is killed once per round, at increasing points inside the load, targets in range", () => {
  for (const seed of [1, 2, 3, 99, 123456]) {
    const plan = planKills({ ...base, seed });
    expect(plan).toHaveLength(12);
    for (let round = 0; round < 4; round++) {
      expect(
        plan
          .slice(round * 3, round * 3 + 3)
          .map((k) => k.kind)
          .sort(),
      ).toEqual(["agent", "gateway", "validator"]);
    }
    for (let i = 1; i < plan.length; i++)
      expect(plan[i]?.afterRequests).toBeGreaterThanOrEqual(plan[i - 1]?.afterRequests ?? 0);
    for (const k of plan) {
      expect(k.afterRequests).toBeGreaterThanOrEqual(200);
      expect(k.afterRequests).toBeLessThan(1_800);
      expect(k.downMs).toBeGreaterThanOrEqual(300);
      expect(k.downMs).toBeLessThanOrEqual(2_500);
      const count = k.kind === "agent" ? 2 : k.kind === "validator" ? 3 : 1;
      expect(k.target).toBeLessThan(count);
    }
  }
});

test("a short run with three kills kills each kind once", () => {
  const plan = planKills({ ...base, requests: 300, kills: 3, seed: 42 });
  expect(plan.map((k) => k.kind).sort()).toEqual(["agent", "gateway", "validator"]);
});
