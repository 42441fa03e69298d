import { describe, expect, test } from "bun:test";
import { GENERATE_LIMITS, type TokenDelta } from "@ncn/protocol";
import { TokenLog } from "./token-log.ts";

const d = (index: number, text = `t${index} `): TokenDelta => ({ index, token: 100 + index, text });
const indexes = (ds: readonly TokenDelta[]) => ds.map((x) => x.index);

describe("TokenLog", () => {
  test("deltas in order go out at once; the log keeps them for late listeners", () => {
    const log = new TokenLog();
    expect(indexes(log.accept("r:1", [d(0), d(1)]))).toEqual([0, 1]);
    expect(indexes(log.accept("r:1", [d(2)]))).toEqual([2]);
    expect(log.released.map((x) => x.text).join("")).toBe("t0 t1 t2 ");
  });

  test("a frame that overtook an earlier one waits for it: no gap ever goes out", () => {
    const log = new TokenLog();
    log.accept("r:1", [d(0)]);
    expect(log.accept("r:1", [d(3), d(4)])).toEqual([]);
    expect(indexes(log.accept("r:1", [d(1), d(2)]))).toEqual([1, 2, 3, 4]);
    expect(indexes(log.released)).toEqual([0, 1, 2, 3, 4]);
  });

  test("a delta told twice goes out once, as first told", () => {
    const log = new TokenLog();
    log.accept("r:1", [d(0), d(1)]);
    expect(log.accept("r:1", [d(1, "other"), d(2)])).toEqual([d(2)]);
    expect(log.released[1]?.text).toBe("t1 ");
  });

  test("nothing after the last flush; another attempt starts over", () => {
    const log = new TokenLog();
    log.accept("r:1", [d(0), { index: 1, token: null, text: "!" }]);
    expect(log.accept("r:1", [d(2)])).toEqual([]);
    expect(indexes(log.accept("r:2", [d(0)]))).toEqual([0]);
    expect(indexes(log.released)).toEqual([0]);
  });

  test("held deltas and text are bounded", () => {
    const log = new TokenLog();
    const far = Array.from({ length: 2000 }, (_, i) => d(i + 1));
    for (let i = 0; i < far.length; i += 64) log.accept("r:1", far.slice(i, i + 64));
    // Only the first held ones wait for index 0; the rest were dropped.
    const out = log.accept("r:1", [d(0)]);
    expect(out.length).toBeLessThan(far.length);
    expect(indexes(out)).toEqual(out.map((_, i) => i));
    // The next index goes out even while the held ones are at their bound.
    const full = new TokenLog();
    for (let i = 0; i < 2000; i += 64)
      full.accept(
        "r:1",
        far.slice(i, i + 64).map((x) => d(x.index + 1000)),
      );
    expect(indexes(full.accept("r:1", [d(0), d(1)]))).toEqual([0, 1]);
    const big = new TokenLog();
    const text = "x".repeat(GENERATE_LIMITS.deltaChars);
    let released = 0;
    for (let i = 0; i <= GENERATE_LIMITS.maxTokens; i++) released += big.accept("r:1", [d(i, text)]).length;
    expect(released * GENERATE_LIMITS.deltaChars).toBeLessThanOrEqual(GENERATE_LIMITS.textChars);
    expect(big.accept("r:1", [d(released, "")])).toEqual([]);
  });
});
