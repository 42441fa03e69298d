import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { TaskInputError } from "./errors.ts";
import { DEFAULT_LIMITS, DEFAULT_MAXIMA, resolveLimits } from "./limits.ts";
import { SandboxLimits, SandboxMaxima } from "./schemas.ts";

describe("resolveLimits", () => {
  test("an empty request gets the defaults", () => {
    expect(resolveLimits({}, DEFAULT_MAXIMA)).toEqual(DEFAULT_LIMITS);
  });

  test("defaults are capped by a stricter operator", () => {
    const maxima = { ...DEFAULT_MAXIMA, memoryMb: 128, wallMs: 2000 };
    expect(resolveLimits({}, maxima)).toMatchObject({ memoryMb: 128, wallMs: 2000, cpuSeconds: 10 });
  });

  test("requested values up to the maximum are kept exactly", () => {
    const limits = resolveLimits({ wallMs: DEFAULT_MAXIMA.wallMs, processes: 2 }, DEFAULT_MAXIMA);
    expect(limits.wallMs).toBe(DEFAULT_MAXIMA.wallMs);
    expect(limits.processes).toBe(2);
  });

  test("a request above a maximum is an error naming the limit", () => {
    let caught: unknown;
    try {
      resolveLimits({ cpuSeconds: 61 }, DEFAULT_MAXIMA);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TaskInputError);
    expect((caught as TaskInputError).code).toBe("limit_above_maximum");
    expect((caught as TaskInputError).details).toEqual({ limit: "cpuSeconds", requested: 61, maximum: 60 });
  });

  test("the shipped defaults satisfy their own schemas", () => {
    expect(v.safeParse(SandboxLimits, DEFAULT_LIMITS).success).toBe(true);
    expect(v.safeParse(SandboxMaxima, DEFAULT_MAXIMA).success).toBe(true);
  });
});
