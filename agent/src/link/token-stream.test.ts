import { describe, expect, test } from "bun:test";
import { GENERATE_LIMITS, type TokenDelta } from "@ncn/protocol";
import { TokenStream } from "./token-stream.ts";

const delta = (index: number, text = `t${index}`): TokenDelta => ({ index, token: index, text });

function recorder(ok = true) {
  const frames: { at: number; deltas: TokenDelta[] }[] = [];
  const t0 = performance.now();
  return {
    frames,
    send: (deltas: TokenDelta[]) => {
      frames.push({ at: performance.now() - t0, deltas });
      return ok;
    },
  };
}

describe("TokenStream", () => {
  test("the first delta goes out at once; what follows within the window goes out together", async () => {
    const r = recorder();
    const s = new TokenStream({ send: r.send, windowMs: 20 });
    s.push(delta(0));
    expect(r.frames.map((f) => f.deltas.length)).toEqual([1]);
    s.push(delta(1));
    s.push(delta(2));
    s.push(delta(3));
    expect(r.frames.length).toBe(1);
    await Bun.sleep(30);
    expect(r.frames.map((f) => f.deltas.map((d) => d.index))).toEqual([[0], [1, 2, 3]]);
    await Bun.sleep(30);
    // After a quiet spell the next one is not held back either.
    s.push(delta(4));
    expect(r.frames.length).toBe(3);
    s.end();
    expect(s.frames).toBe(3);
  });

  test("end sends what waits at once; nothing goes out after it", () => {
    const r = recorder();
    const s = new TokenStream({ send: r.send, windowMs: 1_000 });
    s.push(delta(0));
    s.push(delta(1));
    s.push(delta(2));
    s.end();
    s.push(delta(3));
    expect(r.frames.map((f) => f.deltas.map((d) => d.index))).toEqual([[0], [1, 2]]);
  });

  test("a full frame goes out without waiting for the window", () => {
    const r = recorder();
    const s = new TokenStream({ send: r.send, windowMs: 1_000 });
    const n = GENERATE_LIMITS.deltasPerFrame;
    for (let i = 0; i <= n; i++) s.push(delta(i));
    expect(r.frames.map((f) => f.deltas.length)).toEqual([1, n]);
    s.abort();
  });

  test("abort drops what waits and stops the stream", async () => {
    const r = recorder();
    const s = new TokenStream({ send: r.send, windowMs: 10 });
    s.push(delta(0));
    s.push(delta(1));
    s.abort();
    s.push(delta(2));
    await Bun.sleep(30);
    expect(r.frames.map((f) => f.deltas.map((d) => d.index))).toEqual([[0]]);
    expect(s.closed).toBe(true);
  });

  test("a frame that could not be sent ends the stream: a later one would leave a gap", async () => {
    const r = recorder(false);
    const s = new TokenStream({ send: r.send, windowMs: 5 });
    s.push(delta(0));
    s.push(delta(1));
    await Bun.sleep(20);
    expect(r.frames.length).toBe(1);
    expect(s.closed).toBe(true);
  });

  test("a delta out of order or past the text bound ends the stream after what came before", () => {
    const r = recorder();
    const s = new TokenStream({ send: r.send, windowMs: 1_000 });
    s.push(delta(0));
    s.push(delta(1));
    s.push(delta(2, "x".repeat(GENERATE_LIMITS.deltaChars + 1)));
    s.push(delta(3));
    expect(r.frames.map((f) => f.deltas.map((d) => d.index))).toEqual([[0], [1]]);
    const gap = recorder();
    const g = new TokenStream({ send: gap.send, windowMs: 1_000 });
    g.push(delta(0));
    g.push(delta(2));
    expect(gap.frames.map((f) => f.deltas.map((d) => d.index))).toEqual([[0]]);
    expect(g.closed).toBe(true);
  });
});
