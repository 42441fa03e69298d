import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ErrorBody, makeGatewayToken, reputationReportSigningText } from "@ncn/protocol";
import { bodyText, fuzzBodies, hexDigits, hostileValue, truncatedJson } from "@ncn/protocol/testing/fuzz";
import fc from "fast-check";
import * as v from "valibot";
import type { PrivateKeyAccount } from "viem/accounts";
import { FuzzTarget, fuzzParams, post } from "../test-support/fuzz-target.ts";
import { addressOf, fakeModel, signHeartbeat, signRecord } from "../test-support/records.ts";

// Property-based tests over the registry's public HTTP routes (records, heartbeats,
// reputation reports, lookups, the validation API's door) against a real validator node
// with a real chain: random and mutated bodies, wrong types, huge numbers, deep nesting,
// oversized strings, forged signatures, truncated JSON, wrong methods and content types.
// Every answer is a typed 4xx error (lookups may answer 200), never a 5xx, and no store
// changes. The validation endpoints themselves are in fuzz-validate.test.ts.

const t = new FuzzTarget();

beforeAll(() => t.start(), 60_000);
afterAll(() => t.stop());

describe("fuzzed registry HTTP routes answer typed 4xx errors and change nothing", () => {
  test("POST /v1/records: stale and forged records", async () => {
    const stale = await signRecord(t.owner, {
      kind: "model",
      key: "fz-stale",
      seq: 3,
      body: fakeModel("fz-stale"),
    });
    const forged = {
      ...(await signRecord(t.stranger, {
        kind: "model",
        key: "fz-forged",
        seq: 1,
        body: fakeModel("fz-forged"),
      })),
      owner: addressOf(t.owner),
    };
    await t.fuzzPost("/v1/records", fc.oneof(fuzzBodies(stale), fuzzBodies(forged)));
  }, 600_000);

  test("POST /v1/heartbeats: unknown agents and forged heartbeats", async () => {
    const unknown = await signHeartbeat(t.stranger);
    const forged = { ...(await signHeartbeat(t.stranger)), agent: addressOf(t.agent) };
    await t.fuzzPost("/v1/heartbeats", fc.oneof(fuzzBodies(unknown), fuzzBodies(forged)));
  }, 600_000);

  test("POST /v1/reputation/reports: untrusted and stale reports", async () => {
    const report = async (account: PrivateKeyAccount, at: number) => {
      const unsigned = {
        reporter: addressOf(account),
        at,
        events: [{ id: `ev-${at}`, at, agent: addressOf(t.agent), kind: "failure" as const }],
      };
      const signature = await account.signMessage({
        message: reputationReportSigningText(unsigned as never),
      });
      return { ...unsigned, signature };
    };
    const untrusted = await report(t.stranger, Date.now());
    const stale = await report(t.gatewayAccount, Date.now() - 3_600_000);
    await t.fuzzPost("/v1/reputation/reports", fc.oneof(fuzzBodies(untrusted), fuzzBodies(stale)));
  }, 600_000);

  test("validation routes: fuzzed Authorization headers are refused at the door", async () => {
    const genuine = (await makeGatewayToken(t.gatewayAccount)).token;
    const [addr, expiry, sig] = genuine.split(".") as [string, string, string];
    const header = fc.oneof(
      fc.string({ maxLength: 400 }),
      fc.string({ maxLength: 400 }).map((s) => `NCN-Gateway ${s}`),
      fc
        .tuple(
          fc.constantFrom(addr, "0x", `0x${"00".repeat(20)}`),
          fc.string({ maxLength: 30 }),
          hexDigits(130),
        )
        .map(([a, e, s]) => `NCN-Gateway ${a}.${e}.0x${s}`),
      fc.constantFrom(
        `NCN-Gateway ${addr}.${expiry}`,
        `NCN-Gateway ${addr}.${Number(expiry) + 1}.${sig}`,
        `NCN-Gateway ${addr}.1e999.${sig}`,
        `NCN-Gateway ${addr}.-1.${sig}`,
        `Bearer ${genuine}`,
      ),
    );
    const path = fc.constantFrom(
      "/v1/validate/preprocess",
      "/v1/validate/completion",
      "/v1/validate/completion/batch",
      "/v1/validate/stream",
      "/v1/validate/settlement",
      "/v1/mempool",
    );
    const before = t.storeSnapshot();
    await fc.assert(
      fc.asyncProperty(path, header, async (p, h) => {
        const code = await t.expectTyped4xx(p, post({}, { authorization: h.replace(/[\r\n\0]/g, "") }));
        expect(["UNAUTHORIZED", "SIGNATURE_INVALID", "FORBIDDEN"]).toContain(code);
      }),
      fuzzParams,
    );
    expect(t.storeSnapshot()).toBe(before);
  }, 600_000);

  test("GET routes: random ids, keys and queries answer 200 or a typed 4xx", async () => {
    const segment = fc.oneof(
      fc.string({ minLength: 1, maxLength: 300 }),
      hexDigits(40).map((h) => `0x${h}`),
      hexDigits(64).map((h) => `0x${h}`),
      fc.constantFrom("tiny-mlp", "vision", "fz-stale", addressOf(t.agent), "..", "%00", "a".repeat(129)),
    );
    const route = fc.oneof(
      segment.map((s) => `/v1/agents/${encodeURIComponent(s)}`),
      segment.map((s) => `/v1/models/${encodeURIComponent(s)}`),
      segment.map((s) => `/v1/subnets/${encodeURIComponent(s)}`),
      segment.map((s) => `/v1/reputation/${encodeURIComponent(s)}`),
      segment.map((s) => `/v1/mempool/${encodeURIComponent(s)}`),
      segment.map((s) => `/v1/attestations/${encodeURIComponent(s)}`),
      fc
        .tuple(
          fc.constantFrom("agent", "model", "subnet", "validator", "planet"),
          segment,
          fc.string({ maxLength: 20 }),
        )
        .map(([k, s, src]) => `/v1/records/${k}/${encodeURIComponent(s)}?source=${encodeURIComponent(src)}`),
      fc
        .dictionary(fc.constantFrom("subnet", "model", "x"), fc.oneof(segment, fc.string({ maxLength: 300 })))
        .map((q) => `/v1/agents?${new URLSearchParams(q)}`),
    );
    const before = t.storeSnapshot();
    await fc.assert(
      fc.asyncProperty(route, async (path) => {
        const res = await t.send(path, { method: "GET" });
        const text = await res.text();
        if (res.status >= 500) throw new Error(`GET ${path} answered ${res.status}: ${text.slice(0, 300)}`);
        const json: unknown = JSON.parse(text);
        if (res.status >= 400 && !v.is(ErrorBody, json))
          throw new Error(`GET ${path}: untyped error ${text}`);
      }),
      fuzzParams,
    );
    expect(t.storeSnapshot()).toBe(before);
  }, 600_000);

  test("any method, any path, any content type: never a 5xx", async () => {
    const path = fc.oneof(
      fc.constantFrom(
        "/v1/records",
        "/v1/heartbeats",
        "/v1/reputation/reports",
        "/v1/validate/preprocess",
        "/v1/validate/stream",
        "/v1/mempool",
        "/v1/agents",
        "/v1/models",
        "/v1/subnets",
        "/v1/validators",
        "/v1/reputation",
        "/health",
      ),
      fc.webPath(),
    );
    const method = fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD");
    const contentType = fc.oneof(
      fc.constantFrom(
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/cbor",
        "",
      ),
      fc.string({ maxLength: 100 }),
    );
    const body = fc.oneof(
      hostileValue.map(bodyText),
      fc.string({ maxLength: 500 }),
      truncatedJson({ a: [1, { b: 2 }] }).map(bodyText),
    );
    const before = t.storeSnapshot();
    await fc.assert(
      fc.asyncProperty(path, method, contentType, body, async (p, m, ct, b) => {
        const headers: Record<string, string> = { authorization: t.authorization };
        const safeCt = ct.replace(/[\r\n\0]/g, "");
        if (safeCt) headers["content-type"] = safeCt;
        const res = await t.send(p, {
          method: m,
          headers,
          ...(m === "GET" || m === "HEAD" ? {} : { body: b }),
        });
        const text = await res.text();
        if (res.status >= 500) throw new Error(`${m} ${p} answered ${res.status}: ${text.slice(0, 300)}`);
      }),
      fuzzParams,
    );
    expect(t.storeSnapshot()).toBe(before);
  }, 600_000);
});
