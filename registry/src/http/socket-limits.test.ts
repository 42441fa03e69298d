import { describe, expect, test } from "bun:test";
import { SocketSlots, spendToken } from "./socket-limits.ts";

describe("SocketSlots", () => {
  test("caps sockets per address and in total; a release frees exactly one slot", () => {
    const slots = new SocketSlots({ maxSockets: 3, maxSocketsPerAddress: 2 });
    expect(slots.take("a")).toBeUndefined();
    expect(slots.take("a")).toBeUndefined();
    expect(slots.take("a")).toBe("too_many_sockets_from_address");
    expect(slots.take("b")).toBeUndefined();
    expect(slots.take("c")).toBe("too_many_sockets");
    expect(slots.open).toBe(3);
    slots.release("a");
    expect(slots.take("c")).toBeUndefined();
    // Releasing an address with no socket changes nothing.
    slots.release("nobody");
    expect(slots.open).toBe(3);
  });
});

describe("spendToken", () => {
  test("allows a burst, then refills at the rate", () => {
    let bucket = { tokens: 3, at: 0 };
    const allowed: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      const r = spendToken(bucket, 0, 10, 3);
      bucket = r.bucket;
      allowed.push(r.allowed);
    }
    expect(allowed).toEqual([true, true, true, false]);
    // 10 per second: one token back after 100 ms, never more than the burst.
    expect(spendToken(bucket, 50, 10, 3).allowed).toBe(false);
    expect(spendToken(bucket, 100, 10, 3).allowed).toBe(true);
    expect(spendToken(bucket, 60_000, 10, 3).bucket.tokens).toBe(2);
  });
});
