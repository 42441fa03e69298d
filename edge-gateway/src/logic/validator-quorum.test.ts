import { describe, expect, test } from "bun:test";
import { firstAsked, quorumLostError, quorumOf } from "./validator-quorum.ts";

const probe = (url: string, up: boolean) => ({
  url,
  up,
  validator: up ? `0x${url.length}` : null,
  error: up ? null : "connection refused",
  at: 5,
});

describe("validator quorum", () => {
  test("enough validators answering is a quorum; the rest are named", () => {
    const q = quorumOf([probe("http://a", true), probe("http://b", true), probe("http://c", false)], 2);
    expect(q.ok).toBe(true);
    expect(q.answering).toEqual(["http://a", "http://b"]);
    expect(q.missing).toEqual([{ url: "http://c", validator: null, error: "connection refused" }]);
  });

  test("without one, new work gets a typed 503 naming the missing validators, saying nothing was charged", () => {
    const q = quorumOf([probe("http://a", true), probe("http://b", false), probe("http://c", false)], 2);
    expect(q.ok).toBe(false);
    const err = quorumLostError(q);
    expect(err.code).toBe("UNAVAILABLE");
    expect(err.status).toBe(503);
    expect(err.shortMessage).toContain("http://b, http://c");
    expect(err.shortMessage).toContain("nothing was charged");
    expect(err.details).toMatchObject({
      charged: false,
      retryable: true,
      threshold: 2,
      answering: ["http://a"],
    });
  });
});

describe("which validators a stream session asks first", () => {
  const sessionIds = Array.from(
    { length: 300 },
    (_, i) => `0x${i.toString(16).padStart(4, "0")}${"ab".repeat(30)}`,
  );

  test("every batch of a session goes to the same validators first", () => {
    for (const id of sessionIds.slice(0, 20)) {
      const first = firstAsked(id, 3);
      for (let k = 0; k < 5; k++) expect(firstAsked(id, 3)).toBe(first);
    }
  });

  test("sessions spread over the validators", () => {
    const counts = [0, 0, 0];
    for (const id of sessionIds) counts[firstAsked(id, 3)] = (counts[firstAsked(id, 3)] ?? 0) + 1;
    for (const c of counts) expect(c).toBeGreaterThan(60);
    expect(firstAsked("x", 1)).toBe(0);
  });
});
