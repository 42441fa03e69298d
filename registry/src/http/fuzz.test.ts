import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  type LocalChain,
  mintTokens,
  openSession,
  paymentDomain,
  startLocalChain,
} from "@ncn/contracts";
import {
  ErrorBody,
  type ErrorCode,
  makeGatewayToken,
  type NcnDomain,
  type PreprocessRequest,
  reputationReportSigningText,
} from "@ncn/protocol";
import {
  bodyText,
  FUZZ_RUNS,
  FUZZ_SEED,
  fuzzBodies,
  hexDigits,
  hostileValue,
  mutatedBody,
  truncatedJson,
} from "@ncn/protocol/testing/fuzz";
import fc from "fast-check";
import * as v from "valibot";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type { RegistryNode } from "../node.ts";
import { startTestNode, tempDir } from "../test-support/cluster.ts";
import { floatInput, floatResult, signedCompletion } from "../test-support/completions.ts";
import { gatewayHeader, validationSocket } from "../test-support/gateway.ts";
import {
  addressOf,
  agentRecord,
  fakeModel,
  modelRecord,
  newAccount,
  signHeartbeat,
  signRecord,
  subnetRecord,
} from "../test-support/records.ts";
import { signVoucher, streamRequest } from "../test-support/stream.ts";

// Property-based tests over the registry's HTTP API and its validation socket, against a
// real validator node (SQLite, libp2p, Bun.serve) with a real chain (anvil): random and
// mutated bodies, wrong types, huge numbers, deep nesting, oversized strings, forged
// signatures, truncated JSON, wrong content types. Every answer must be a typed 4xx error,
// never a 5xx, and no store may change. Each base body fails a check that no one-field
// change can pass (a forged signature, an unfunded payment), so nothing may ever be
// accepted. Cases run in-process through the node's own handler; one in every
// `HTTP_EVERY` goes over loopback HTTP to the server.

const HTTP_EVERY = 25;
const params = { seed: FUZZ_SEED, numRuns: FUZZ_RUNS, endOnFailure: true } as const;

const gatewayAccount = newAccount();
const gateway = addressOf(gatewayAccount);
const owner = newAccount();
const agent = newAccount();
const stranger = newAccount();
const clientKey = generatePrivateKey();
const client = privateKeyToAccount(clientKey);
const model = fakeModel("tiny-mlp");
const modelHash = model.sha256 as `0x${string}`;

let chain: LocalChain;
let dir: ReturnType<typeof tempDir>;
let node: RegistryNode;
let domain: NcnDomain;
let sessionId: `0x${string}`;
let authorization: string;
/** A request this validator pre-attested (set up before fuzzing), so completions get past that check. */
const attestedRequest = "fz-attested";

beforeAll(async () => {
  chain = await startLocalChain({ validators: 1, deploy: { threshold: 1 } });
  await chain.fundEther(client.address);
  await mintTokens(chain.client(chain.deployerKey), chain.contracts, { to: client.address, amount: 10n ** 21n });
  ({ sessionId } = await openSession(chain.client(clientKey), chain.contracts, {
    gateway,
    amount: 10n ** 20n,
    expiry: BigInt(Math.floor(Date.now() / 1000) + 3600),
  }));
  domain = paymentDomain(chain.deployment.chainId, chain.contracts.payment);
  dir = tempDir();
  node = await startTestNode(dir.path, {
    config: {
      rpcUrl: chain.anvil.url,
      paymentContract: chain.contracts.payment,
      validatorRegistry: chain.contracts.registry,
      validatorKey: chain.validatorKeys[0],
      spotCheckFraction: 0,
      trustedGateways: [gateway],
    },
  });
  for (const record of [
    await subnetRecord(owner, { models: [{ id: "tiny-mlp", price: "100" }] }),
    await modelRecord(owner, model),
    await agentRecord(agent, { subnets: ["vision"], models: ["tiny-mlp"] }),
    await signRecord(owner, { kind: "model", key: "fz-stale", seq: 5, body: fakeModel("fz-stale") }),
  ]) {
    await node.records.publish(record);
  }
  authorization = await gatewayHeader(gatewayAccount);
  const pre = await node.validation.preprocess(await preprocessBody(attestedRequest, client), gateway);
  expect(pre.attestation.validator).toBe(node.signer?.address as never);
}, 60_000);

afterAll(async () => {
  await node?.stop();
  await chain?.stop();
  dir?.cleanup();
});

const voucher = (signer = client, amount = 100n) => signVoucher(signer, domain, sessionId, amount);

async function preprocessBody(requestId: string, voucherSigner = stranger, who = agent): Promise<PreprocessRequest> {
  return {
    requestId,
    subnet: "vision",
    model: "tiny-mlp",
    agent: addressOf(who),
    price: "100",
    payment: { mode: "session", sessionId, cumulativeAmount: "100", signature: await voucher(voucherSigner) },
    deadline: Date.now() + 3_600_000,
  } as PreprocessRequest;
}

const input = () => floatInput("tiny-mlp", [1, 2, 3, 4]);
const result = () => floatResult([0.5, 0.25, 0.125]);

/** Every row of every table: what "nothing changed" is checked against. */
function storeSnapshot(): string {
  const tables = node.db
    .query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .all()
    .map((t) => t.name);
  const rows = tables.map((t) => [t, node.db.query(`SELECT * FROM "${t}"`).all()]);
  return JSON.stringify({ rows, mempool: node.mempool.list().length, reputation: node.reputation.all() });
}

let calls = 0;

/** Sends one request, in-process or (every `HTTP_EVERY`th call) over HTTP. */
async function send(path: string, init: RequestInit): Promise<Response> {
  calls++;
  if (calls % HTTP_EVERY === 0) return fetch(`${node.url}${path}`, init);
  return node.fetch(new Request(`${node.url}${path}`, init));
}

/** Fails on a 5xx, an answer that is not an error, or an error body without a known code. */
async function expectTyped4xx(path: string, init: RequestInit): Promise<ErrorCode> {
  const res = await send(path, init);
  const text = await res.text();
  if (res.status < 400 || res.status >= 500) {
    throw new Error(`${init.method ?? "GET"} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${path} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  const parsed = v.safeParse(ErrorBody, json);
  if (!parsed.success) throw new Error(`${path} answered an untyped error: ${text.slice(0, 300)}`);
  return parsed.output.error.code;
}

function post(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method: "POST", headers: { "content-type": "application/json", ...headers }, body: bodyText(body) };
}

/** Runs `bodies` against a POST route and checks every answer is a typed 4xx and no store changed. */
async function fuzzPost(path: string, bodies: fc.Arbitrary<unknown>, headers: Record<string, string> = {}) {
  const before = storeSnapshot();
  await fc.assert(
    fc.asyncProperty(bodies, async (b) => {
      await expectTyped4xx(path, post(b, headers));
      const after = storeSnapshot();
      if (after !== before) throw new Error(`${path}: a store changed`);
    }),
    params,
  );
}

const gatewayHeaders = () => ({ authorization });

describe("fuzzed registry HTTP routes answer typed 4xx errors and change nothing", () => {
  test("POST /v1/records: stale and forged records", async () => {
    const stale = await signRecord(owner, { kind: "model", key: "fz-stale", seq: 3, body: fakeModel("fz-stale") });
    const forged = {
      ...(await signRecord(stranger, { kind: "model", key: "fz-forged", seq: 1, body: fakeModel("fz-forged") })),
      owner: addressOf(owner),
    };
    await fuzzPost("/v1/records", fc.oneof(fuzzBodies(stale), fuzzBodies(forged)));
  }, 600_000);

  test("POST /v1/heartbeats: unknown agents and forged heartbeats", async () => {
    const unknown = await signHeartbeat(stranger);
    const forged = { ...(await signHeartbeat(stranger)), agent: addressOf(agent) };
    await fuzzPost("/v1/heartbeats", fc.oneof(fuzzBodies(unknown), fuzzBodies(forged)));
  }, 600_000);

  test("POST /v1/reputation/reports: untrusted and stale reports", async () => {
    const report = async (account: typeof stranger, at: number) => {
      const unsigned = {
        reporter: addressOf(account),
        at,
        events: [{ id: `ev-${at}`, at, agent: addressOf(agent), kind: "failure" as const }],
      };
      const signature = await account.signMessage({ message: reputationReportSigningText(unsigned as never) });
      return { ...unsigned, signature };
    };
    const untrusted = await report(stranger, Date.now());
    const stale = await report(gatewayAccount, Date.now() - 3_600_000);
    await fuzzPost("/v1/reputation/reports", fc.oneof(fuzzBodies(untrusted), fuzzBodies(stale)));
  }, 600_000);

  test("POST /v1/validate/preprocess: forged vouchers, missing escrows, unregistered agents", async () => {
    const forgedVoucher = await preprocessBody("fz-pre-1");
    const escrow = { ...forgedVoucher, requestId: "fz-pre-2", payment: { mode: "escrow" } };
    const unregistered = await preprocessBody("fz-pre-3", client, stranger);
    await fuzzPost(
      "/v1/validate/preprocess",
      fc.oneof(fuzzBodies(forgedVoucher), fuzzBodies(escrow), fuzzBodies(unregistered)),
      gatewayHeaders(),
    );
  }, 600_000);

  test("POST /v1/validate/completion: forged receipts and unattested requests", async () => {
    const [forged, unattested] = await completionBases();
    await fuzzPost(
      "/v1/validate/completion",
      fc.oneof(fuzzBodies(forged as object), fuzzBodies(unattested as object)),
      gatewayHeaders(),
    );
  }, 600_000);

  test("POST /v1/validate/completion/batch", async () => {
    const [forged, unattested] = await completionBases();
    await fuzzPost(
      "/v1/validate/completion/batch",
      fc.oneof(fuzzBodies({ items: [forged, unattested] }), fuzzBodies({ items: [forged] })),
      gatewayHeaders(),
    );
  }, 600_000);

  const streamBases = async () => {
    const tasks = [{ requestId: "fz-stream-1", input: input(), result: result() }];
    return [
      await streamRequest(domain, [{ agent, tasks }], { sessionId, client, voucherSigner: stranger, modelHash }),
      await streamRequest(domain, [{ agent, tasks, signer: stranger }], { sessionId, client, modelHash }),
    ];
  };

  test("POST /v1/validate/stream: forged vouchers and forged agent batches", async () => {
    const [forgedVoucher, forgedBatch] = await streamBases();
    await fuzzPost(
      "/v1/validate/stream",
      fc.oneof(fuzzBodies(forgedVoucher as object), fuzzBodies(forgedBatch as object)),
      gatewayHeaders(),
    );
  }, 600_000);

  test("POST /v1/validate/settlement: receipts never attested, forged vouchers", async () => {
    const base = {
      batchId: `0x${"5a".repeat(32)}`,
      gateway,
      receiptsRoot: `0x${"6b".repeat(32)}`,
      receiptDigests: [`0x${"6b".repeat(32)}`],
      sessions: [{ sessionId, voucherAmount: "100", voucherSignature: await voucher(stranger) }],
      payouts: [{ node: addressOf(agent), amount: "100" }],
    };
    await fuzzPost("/v1/validate/settlement", fuzzBodies(base), gatewayHeaders());
  }, 600_000);

  test("validation routes: fuzzed Authorization headers are refused at the door", async () => {
    const genuine = (await makeGatewayToken(gatewayAccount)).token;
    const [addr, expiry, sig] = genuine.split(".") as [string, string, string];
    const header = fc.oneof(
      fc.string({ maxLength: 400 }),
      fc.string({ maxLength: 400 }).map((s) => `NCN-Gateway ${s}`),
      fc
        .tuple(fc.constantFrom(addr, "0x", `0x${"00".repeat(20)}`), fc.string({ maxLength: 30 }), hexDigits(130))
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
    const before = storeSnapshot();
    await fc.assert(
      fc.asyncProperty(path, header, async (p, h) => {
        const code = await expectTyped4xx(p, post({}, { authorization: h.replace(/[\r\n\0]/g, "") }));
        expect(["UNAUTHORIZED", "SIGNATURE_INVALID", "FORBIDDEN"]).toContain(code);
      }),
      params,
    );
    expect(storeSnapshot()).toBe(before);
  }, 600_000);

  test("GET routes: random ids, keys and queries answer 200 or a typed 4xx", async () => {
    const segment = fc.oneof(
      fc.string({ minLength: 1, maxLength: 300 }),
      hexDigits(40).map((h) => `0x${h}`),
      hexDigits(64).map((h) => `0x${h}`),
      fc.constantFrom("tiny-mlp", "vision", "fz-stale", addressOf(agent), "..", "%00", "a".repeat(129)),
    );
    const route = fc.oneof(
      segment.map((s) => `/v1/agents/${encodeURIComponent(s)}`),
      segment.map((s) => `/v1/models/${encodeURIComponent(s)}`),
      segment.map((s) => `/v1/subnets/${encodeURIComponent(s)}`),
      segment.map((s) => `/v1/reputation/${encodeURIComponent(s)}`),
      segment.map((s) => `/v1/mempool/${encodeURIComponent(s)}`),
      segment.map((s) => `/v1/attestations/${encodeURIComponent(s)}`),
      fc
        .tuple(fc.constantFrom("agent", "model", "subnet", "validator", "planet"), segment, fc.string({ maxLength: 20 }))
        .map(([k, s, src]) => `/v1/records/${k}/${encodeURIComponent(s)}?source=${encodeURIComponent(src)}`),
      fc
        .dictionary(fc.constantFrom("subnet", "model", "x"), fc.oneof(segment, fc.string({ maxLength: 300 })))
        .map((q) => `/v1/agents?${new URLSearchParams(q)}`),
    );
    const before = storeSnapshot();
    await fc.assert(
      fc.asyncProperty(route, async (path) => {
        const res = await send(path, { method: "GET" });
        const text = await res.text();
        if (res.status >= 500) throw new Error(`GET ${path} answered ${res.status}: ${text.slice(0, 300)}`);
        const json: unknown = JSON.parse(text);
        if (res.status >= 400 && !v.is(ErrorBody, json)) throw new Error(`GET ${path}: untyped error ${text}`);
      }),
      params,
    );
    expect(storeSnapshot()).toBe(before);
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
      fc.constantFrom("application/json", "text/plain", "multipart/form-data; boundary=x", "application/cbor", ""),
      fc.string({ maxLength: 100 }),
    );
    const body = fc.oneof(hostileValue.map(bodyText), fc.string({ maxLength: 500 }), truncatedJson({ a: [1, { b: 2 }] }).map(bodyText));
    const before = storeSnapshot();
    await fc.assert(
      fc.asyncProperty(path, method, contentType, body, async (p, m, ct, b) => {
        const headers: Record<string, string> = { authorization };
        const safeCt = ct.replace(/[\r\n\0]/g, "");
        if (safeCt) headers["content-type"] = safeCt;
        const res = await send(p, { method: m, headers, ...(m === "GET" || m === "HEAD" ? {} : { body: b }) });
        const text = await res.text();
        if (res.status >= 500) throw new Error(`${m} ${p} answered ${res.status}: ${text.slice(0, 300)}`);
      }),
      params,
    );
    expect(storeSnapshot()).toBe(before);
  }, 600_000);
});

describe("fuzzed mempool submissions", () => {
  test("POST /v1/mempool: malformed work gets a typed 4xx; well-formed work is queued and never attested", async () => {
    const forgedVoucher = await preprocessBody("fz-mempool-1");
    const [forged] = await completionBases();
    const bodies = fc.oneof(
      fuzzBodies({ phase: 0, request: forgedVoucher }),
      fuzzBodies({ phase: 1, request: forged }),
      mutatedBody({ phase: 0, request: forgedVoucher }, fc.constantFrom(1, 0, "0", null)),
    );
    const attestations = node.attestations.count();
    await fc.assert(
      fc.asyncProperty(bodies, async (b) => {
        const before = node.mempool.list().length;
        const res = await send("/v1/mempool", post(b, gatewayHeaders()));
        const text = await res.text();
        if (res.status === 202) return;
        if (res.status < 400 || res.status >= 500) throw new Error(`/v1/mempool answered ${res.status}: ${text}`);
        if (!v.is(ErrorBody, JSON.parse(text))) throw new Error(`/v1/mempool: untyped error ${text}`);
        if (node.mempool.list().length !== before) throw new Error("a refused submission entered the mempool");
      }),
      params,
    );
    // Let queued work be validated: every item is refused, none attested.
    const until = Date.now() + 30_000;
    while (node.mempool.list().some((e) => e.status === "pending") && Date.now() < until) await Bun.sleep(50);
    const statuses = new Set(node.mempool.list().map((e) => e.status));
    expect(statuses.has("attested")).toBe(false);
    expect(node.attestations.count()).toBe(attestations);
  }, 600_000);
});

/** Completions no one-field change can make acceptable. */
async function completionBases() {
  return [
    // Pre-attested, but the receipt is not the agent's signature.
    await signedCompletion(agent, domain, {
      requestId: attestedRequest,
      modelHash,
      input: input(),
      result: result(),
      signer: stranger,
    }),
    // Signed by the agent, but never pre-attested.
    await signedCompletion(agent, domain, { requestId: "fz-unattested", modelHash, input: input(), result: result() }),
  ];
}

describe("fuzzed validation socket frames", () => {
  test("every frame gets a typed refusal with its id; the socket and the node stay up", async () => {
    const [forgedVoucher, forgedBatch] = await (async () => {
      const tasks = [{ requestId: "fz-ws-1", input: input(), result: result() }];
      return [
        await streamRequest(domain, [{ agent, tasks }], { sessionId, client, voucherSigner: stranger, modelHash }),
        await streamRequest(domain, [{ agent, tasks, signer: stranger }], { sessionId, client, modelHash }),
      ];
    })();
    const frame = fc.oneof(
      { arbitrary: mutatedBody({ id: 1, op: "stream", body: forgedVoucher }), weight: 4 },
      { arbitrary: mutatedBody({ id: 2, op: "stream", body: forgedBatch }), weight: 4 },
      { arbitrary: hostileValue, weight: 1 },
      { arbitrary: truncatedJson({ id: 3, op: "stream", body: forgedBatch }), weight: 1 },
    );
    const ws = await validationSocket(gatewayAccount, node.url);
    const replies: unknown[] = [];
    let waiter: (() => void) | undefined;
    ws.addEventListener("message", (e) => {
      replies.push(JSON.parse(String(e.data)));
      waiter?.();
    });
    let closed = false;
    ws.addEventListener("close", () => {
      closed = true;
      waiter?.();
    });
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener("error", reject, { once: true });
    });
    const Reply = v.object({ id: v.number(), ok: v.literal(false), error: ErrorBody.entries.error });
    const before = storeSnapshot();
    await fc.assert(
      fc.asyncProperty(frame, async (f) => {
        const seen = replies.length;
        ws.send(bodyText(f));
        const until = Date.now() + 30_000;
        while (replies.length === seen && !closed && Date.now() < until) {
          await new Promise<void>((r) => {
            waiter = r;
            setTimeout(r, 100);
          });
        }
        if (closed) throw new Error("the validation socket closed");
        const reply = v.parse(Reply, replies[seen]);
        if (reply.error.code === "INTERNAL") throw new Error(`internal error: ${reply.error.message}`);
        const id = typeof f === "object" && f !== null && "id" in f ? f.id : undefined;
        if (reply.id !== -1 && reply.id !== id) throw new Error(`reply id ${reply.id} for frame id ${String(id)}`);
      }),
      params,
    );
    ws.close();
    expect(storeSnapshot()).toBe(before);
    expect((await send("/health", {})).status).toBe(200);
  }, 600_000);
});
