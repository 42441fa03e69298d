import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  ErrorBody,
  gatewayAuthorization,
  makeGatewayToken,
  type ReputationEvent,
  reputationReportSigningText,
} from "@ncn/protocol";
import * as v from "valibot";
import { MAX_HTTP_BODY_BYTES } from "../constants.ts";
import type { RegistryNode } from "../node.ts";
import { startTestNode, tempDir } from "../test-support/cluster.ts";
import { gatewayHeader, validationSocket } from "../test-support/gateway.ts";
import { addressOf, agentRecord, newAccount, signHeartbeat } from "../test-support/records.ts";

const gatewayAccount = newAccount();
let node: RegistryNode;
let dir: ReturnType<typeof tempDir>;

beforeAll(async () => {
  dir = tempDir();
  node = await startTestNode(dir.path, { config: { trustedGateways: [addressOf(gatewayAccount)] } });
}, 60_000);
afterAll(async () => {
  await node?.stop();
  dir?.cleanup();
});

/** Calls the API; the validation API and the mempool as the trusted gateway. */
async function call(path: string, init: RequestInit = {}) {
  const asGateway = path.startsWith("/v1/validate/") || path === "/v1/mempool";
  const headers = new Headers(init.headers);
  if (asGateway && !headers.has("authorization"))
    headers.set("authorization", await gatewayHeader(gatewayAccount));
  const res = await fetch(`${node.url}${path}`, { ...init, headers });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

function errorOf(json: unknown) {
  return v.parse(ErrorBody, json).error;
}

async function report(account = gatewayAccount, events: Partial<ReputationEvent>[], at = Date.now()) {
  const unsigned = {
    reporter: addressOf(account),
    at,
    events: events.map((e, i) => ({ id: `ev-${at}-${i}`, at, ...e })),
  };
  const signature = await account.signMessage({
    message: reputationReportSigningText(unsigned as never),
  });
  return { ...unsigned, signature };
}

describe("HTTP API: malformed input gets typed errors naming the field", () => {
  const posts = [
    "/v1/records",
    "/v1/heartbeats",
    "/v1/validate/preprocess",
    "/v1/validate/completion",
    "/v1/validate/completion/batch",
    "/v1/validate/stream",
    "/v1/validate/settlement",
    "/v1/mempool",
    "/v1/reputation/reports",
  ];

  test("non-JSON bodies on every POST route", async () => {
    for (const path of posts) {
      const { status, json } = await call(path, { method: "POST", body: "{oops" });
      expect([path, status]).toEqual([path, 400]);
      expect(errorOf(json).code).toBe("INVALID_INPUT");
    }
  });

  test("schema failures name the first bad field and list every issue", async () => {
    const { status, json } = await call("/v1/validate/preprocess", {
      method: "POST",
      body: JSON.stringify({
        requestId: "ok-id",
        subnet: "Not A Slug",
        model: "m",
        agent: "0x12",
        price: "-1",
        payment: { mode: "cash" },
        deadline: 1,
      }),
    });
    expect(status).toBe(400);
    const err = errorOf(json);
    expect(err.code).toBe("INVALID_INPUT");
    expect(err.message).toContain("subnet");
    const issues = (err.details as { issues: { path: string }[] }).issues.map((i) => i.path);
    expect(issues).toEqual(expect.arrayContaining(["subnet", "agent", "price", "payment.mode"]));

    const rec = await call("/v1/records", {
      method: "POST",
      body: JSON.stringify({ kind: "agent", key: "x" }),
    });
    expect(rec.status).toBe(400);
    expect(errorOf(rec.json).message).toContain("invalid record");
    const batch = await call("/v1/validate/completion/batch", {
      method: "POST",
      body: JSON.stringify({ items: [] }),
    });
    expect(errorOf(batch.json).message).toContain("items");
    const stream = await call("/v1/validate/stream", {
      method: "POST",
      body: JSON.stringify({
        subnet: "vision",
        session: { sessionId: "0x12", cumulativeAmount: "100", signature: "0x34" },
        chargedBefore: "0",
        agentBatches: [],
        items: [],
      }),
    });
    expect([stream.status, errorOf(stream.json).code]).toEqual([400, "INVALID_INPUT"]);
    expect(errorOf(stream.json).message).toContain("session.sessionId");
    const streamIssues = (errorOf(stream.json).details as { issues: { path: string }[] }).issues;
    expect(streamIssues.map((i) => i.path)).toEqual(
      expect.arrayContaining(["session.sessionId", "session.signature", "agentBatches", "items"]),
    );
  });

  test("bad query strings and path params, unknown routes and oversized bodies", async () => {
    const q = await call("/v1/agents?subnet=BAD%20SUBNET");
    expect([q.status, errorOf(q.json).code]).toEqual([400, "INVALID_INPUT"]);
    expect(errorOf(q.json).message).toContain("subnet");
    const p = await call("/v1/reputation/not-an-address");
    expect([p.status, errorOf(p.json).message]).toEqual([400, expect.stringContaining("agent")]);
    const k = await call("/v1/records/planet/x");
    expect(errorOf(k.json).message).toContain("kind");
    const missing = await call("/v1/nothing-here");
    expect([missing.status, errorOf(missing.json).code]).toEqual([404, "NOT_FOUND"]);
    const unknownModel = await call("/v1/models/not-registered");
    expect([unknownModel.status, errorOf(unknownModel.json).code]).toEqual([404, "MODEL_NOT_FOUND"]);
    const big = await call("/v1/records", { method: "POST", body: "x".repeat(MAX_HTTP_BODY_BYTES + 10) });
    expect([big.status, errorOf(big.json).code]).toEqual([413, "PAYLOAD_TOO_LARGE"]);
    expect((await call("/health")).status).toBe(200);
  });

  test("validation endpoints on a node without a validator key answer UNAVAILABLE", async () => {
    const agent = newAccount();
    const body = {
      requestId: "r-1",
      subnet: "vision",
      model: "tiny-mlp",
      agent: addressOf(agent),
      price: "1",
      payment: { mode: "escrow" },
      deadline: Date.now() + 10_000,
    };
    const { status, json } = await call("/v1/validate/preprocess", {
      method: "POST",
      body: JSON.stringify(body),
    });
    expect([status, errorOf(json).code]).toEqual([503, "UNAVAILABLE"]);
  });

  test("heartbeats: unknown agents and forged signatures are refused", async () => {
    const agent = newAccount();
    const hb = await signHeartbeat(agent);
    const unknown = await call("/v1/heartbeats", { method: "POST", body: JSON.stringify(hb) });
    expect([unknown.status, errorOf(unknown.json).code]).toEqual([404, "NOT_FOUND"]);
    await node.records.publish(await agentRecord(agent));
    const forged = { ...hb, load: { running: 9, queued: 9 } };
    const bad = await call("/v1/heartbeats", { method: "POST", body: JSON.stringify(forged) });
    expect([bad.status, errorOf(bad.json).code]).toEqual([401, "SIGNATURE_INVALID"]);
    const ok = await call("/v1/heartbeats", { method: "POST", body: JSON.stringify(hb) });
    expect(ok.status).toBe(202);
  });
});

describe("reputation reports", () => {
  test("a trusted gateway's events move the score (+1 success, -2 failure, -5 timeout) once each", async () => {
    const agent = addressOf(newAccount());
    const r = await report(gatewayAccount, [
      { agent, kind: "success", latencyMs: 100 },
      { agent, kind: "success", latencyMs: 200 },
      { agent, kind: "failure" },
      { agent, kind: "timeout" },
    ] as Partial<ReputationEvent>[]);
    const first = await call("/v1/reputation/reports", { method: "POST", body: JSON.stringify(r) });
    expect(first.json).toEqual({ applied: 4 });
    const again = await call("/v1/reputation/reports", { method: "POST", body: JSON.stringify(r) });
    expect(again.json).toEqual({ applied: 0 });
    const rep = (await call(`/v1/reputation/${agent}`)).json as Record<string, number>;
    expect(rep.score).toBe(1 + 1 - 2 - 5);
    expect([rep.successes, rep.failures, rep.timeouts]).toEqual([2, 1, 1]);
    expect(rep.latencyEwmaMs).toBeCloseTo(0.2 * 200 + 0.8 * 100, 6);
    const all = (await call("/v1/reputation")).json as { agents: { agent: string }[] };
    expect(all.agents.map((x) => x.agent)).toContain(agent);
  });

  test("untrusted reporters, forged reports, stale reports and gateway slashes are refused", async () => {
    const agent = addressOf(newAccount());
    const stranger = await report(newAccount(), [{ agent, kind: "failure" }] as Partial<ReputationEvent>[]);
    const s = await call("/v1/reputation/reports", { method: "POST", body: JSON.stringify(stranger) });
    expect([s.status, errorOf(s.json).code]).toEqual([401, "UNAUTHORIZED"]);
    const genuine = await report(gatewayAccount, [{ agent, kind: "success" }] as Partial<ReputationEvent>[]);
    const forged = { ...genuine, events: [{ ...genuine.events[0], kind: "failure" }] };
    const f = await call("/v1/reputation/reports", { method: "POST", body: JSON.stringify(forged) });
    expect([f.status, errorOf(f.json).code]).toEqual([401, "SIGNATURE_INVALID"]);
    const old = await report(
      gatewayAccount,
      [{ agent, kind: "timeout" }] as Partial<ReputationEvent>[],
      Date.now() - 3_600_000,
    );
    const o = await call("/v1/reputation/reports", { method: "POST", body: JSON.stringify(old) });
    expect([o.status, errorOf(o.json).code]).toEqual([409, "STALE_RECORD"]);
    const slash = await report(gatewayAccount, [{ agent, kind: "slash" }] as Partial<ReputationEvent>[]);
    const sl = await call("/v1/reputation/reports", { method: "POST", body: JSON.stringify(slash) });
    expect([sl.status, errorOf(sl.json).code]).toEqual([403, "FORBIDDEN"]);
    expect(((await call(`/v1/reputation/${agent}`)).json as { score: number }).score).toBe(0);
  });
});

describe("the validation API is for trusted gateways only", () => {
  const routes = [
    "/v1/validate/preprocess",
    "/v1/validate/completion",
    "/v1/validate/completion/batch",
    "/v1/validate/stream",
    "/v1/validate/settlement",
    "/v1/mempool",
  ];

  test("no token, another scheme, an expired or forged token: 401; an untrusted gateway: 403; nothing runs", async () => {
    const stranger = newAccount();
    const now = Date.now();
    const expired = (await makeGatewayToken(gatewayAccount, now - 400_000)).token;
    const genuine = (await makeGatewayToken(gatewayAccount, now)).token;
    const [addr, expiry] = genuine.split(".");
    const forged = `${addr}.${expiry}.${(await makeGatewayToken(stranger, now)).token.split(".")[2]}`;
    const cases: [string | undefined, number, string][] = [
      [undefined, 401, "token_missing"],
      [`Bearer ${genuine}`, 401, "token_scheme"],
      [gatewayAuthorization(expired), 401, "token_expired"],
      [gatewayAuthorization(forged), 401, "token_signer"],
      [await gatewayHeader(stranger), 403, "gateway_not_trusted"],
    ];
    const before = node.validation.stats.refused;
    for (const path of routes) {
      for (const [authorization, status, reason] of cases) {
        const res = await fetch(`${node.url}${path}`, {
          method: "POST",
          headers: authorization ? { authorization } : {},
          body: "{}",
        });
        const err = errorOf(await res.json());
        expect([path, res.status, (err.details as { reason?: string }).reason]).toEqual([
          path,
          status,
          reason,
        ]);
      }
    }
    // Refused at the door: no validation ran, nothing was queued.
    expect(node.validation.stats.refused).toBe(before);
    expect(node.mempool.list()).toEqual([]);
  });

  test("the validation socket opens only for a trusted gateway's token", async () => {
    const url = `${node.url}/v1/validate/ws`;
    const refused = await fetch(url, { headers: { upgrade: "websocket", connection: "upgrade" } });
    expect(refused.status).toBe(401);
    const stranger = await fetch(url, {
      headers: {
        upgrade: "websocket",
        connection: "upgrade",
        authorization: await gatewayHeader(newAccount()),
      },
    });
    expect(stranger.status).toBe(403);
    const ws = await validationSocket(gatewayAccount, node.url);
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener("error", reject, { once: true });
    });
    ws.close();
    const health = (await call("/health")).json as { validationSockets: { opened: number; refused: number } };
    expect(health.validationSockets).toMatchObject({ opened: 1, refused: 2 });
  });
});
