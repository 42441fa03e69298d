import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import {
  BaseError,
  BatchCompletionResponse,
  ErrorBody,
  idToBytes32,
  merkleBatch,
  ncnDomain,
  payoutsHash,
  receiptDigest,
  SettlementRequest,
  type StreamBatchRequest,
  type Tensor,
  tensorMapFromJson,
  typedData,
  verifyMerkleProof,
  vouchersHash,
} from "@ncn/protocol";
import * as v from "valibot";
import { keccak256, recoverTypedDataAddress, stringToHex } from "viem";
import { generatePrivateKey } from "viem/accounts";
import { ZERO_BYTES32 } from "../constants.ts";
import type { RegistryNode } from "../node.ts";
import { startTestNode, tempDir } from "../test-support/cluster.ts";
import { floatInput, floatResult } from "../test-support/completions.ts";
import { postAsGateway, validationSocket } from "../test-support/gateway.ts";
import {
  addressOf,
  agentRecord,
  fakeModel,
  modelRecord,
  newAccount,
  subnetRecord,
} from "../test-support/records.ts";
import {
  type AgentGroup,
  memoryPaymentReader,
  type StreamFixture,
  type StreamTask,
  signVoucher,
  streamFixture,
  streamRequest,
} from "../test-support/stream.ts";
import { validateSettlement } from "./settlement.ts";
import { validateStream } from "./stream.ts";

const alice = newAccount();
const bob = newAccount();
const fixtures: StreamFixture[] = [];
afterEach(() => {
  for (const f of fixtures.splice(0)) f.close();
});

async function fixture(options: Partial<Parameters<typeof streamFixture>[0]> = {}) {
  const f = await streamFixture({ agents: [alice, bob], ...options });
  fixtures.push(f);
  return f;
}

let seq = 0;
/** Tiny tensor tasks with distinct ids and inputs; the result is y = first three inputs. */
function tasks(n: number, prefix = "req"): StreamTask[] {
  return Array.from({ length: n }, () => {
    const i = seq++;
    const x = [i, i + 1, i + 2, i + 3];
    return {
      requestId: `${prefix}-${i}`,
      input: floatInput("tiny-mlp", x),
      result: floatResult(x.slice(0, 3)),
    };
  });
}

function request(
  f: StreamFixture,
  groups: AgentGroup[],
  extra: { amount?: bigint; chargedBefore?: bigint } = {},
) {
  return streamRequest(f.domain, groups, {
    sessionId: f.sessionId,
    client: f.client,
    modelHash: f.modelHash,
    ...extra,
  });
}

/** The typed refusal `run` throws. */
async function refusalOf(run: Promise<unknown>) {
  try {
    await run;
  } catch (e) {
    if (e instanceof BaseError) {
      return { code: e.code, reason: (e.details as { reason?: string } | undefined)?.reason };
    }
    throw e;
  }
  throw new Error("expected a refusal");
}

function reasonsOf(res: BatchCompletionResponse) {
  return res.rejected.map((r) => [r.index, r.code, (r.details as { reason?: string }).reason]);
}

describe("stream validation", () => {
  test("two agent batches are accepted under one attestation over the root of their receipt digests", async () => {
    const f = await fixture();
    const req = await request(f, [
      { agent: alice, tasks: tasks(3) },
      { agent: bob, tasks: tasks(2) },
    ]);
    const res = v.parse(BatchCompletionResponse, await validateStream(req, f.deps, f.gateway));
    expect(res.accepted).toEqual([0, 1, 2, 3, 4]);
    expect(res.rejected).toEqual([]);
    const digests = req.items.map((i) => receiptDigest(f.domain, i.receipt));
    expect<string[]>(res.leaves).toEqual(digests);
    expect(merkleBatch(digests).root.toLowerCase()).toBe(res.receiptsRoot);
    for (const [i, leaf] of res.leaves.entries()) {
      expect(verifyMerkleProof(res.receiptsRoot, leaf, merkleBatch(res.leaves).proof(i))).toBe(true);
    }
    const { attestation } = res;
    expect<unknown[]>([attestation.phase, attestation.subject, attestation.outputHash]).toEqual([
      1,
      res.receiptsRoot,
      ZERO_BYTES32,
    ]);
    const signer = await recoverTypedDataAddress({
      ...typedData(f.domain, "Attestation", {
        requestId: res.receiptsRoot,
        phase: 1,
        subject: res.receiptsRoot,
        outputHash: ZERO_BYTES32,
      }),
      signature: attestation.signature,
    });
    expect(signer.toLowerCase()).toBe(f.signer.address);
    expect(f.attestations.list(res.receiptsRoot, 1)).toEqual([attestation]);
    // Kept for settlement, and counted as successes for their agents.
    for (const [i, item] of req.items.entries()) {
      const kept = f.receipts.get(digests[i] ?? "");
      expect(kept?.agent).toBe(item.receipt.agent);
      expect(kept?.price).toBe(100n);
      expect(kept?.requestId).toBe(idToBytes32(item.requestId));
    }
    expect(f.reputation.get(alice.address).successes).toBe(3);
    expect(f.reputation.get(bob.address).successes).toBe(2);
    // One session read and one clock read; one voucher and one recovery per agent batch.
    expect(f.payments.reads).toBe(2);
    expect(f.deps.signers.recoveries).toBe(3);
  });

  test("a voucher seen before is not recovered again; a new agent batch is", async () => {
    const f = await fixture();
    const groups = [{ agent: alice, tasks: tasks(2) }];
    const first = await request(f, groups, { amount: 1_000n });
    await validateStream(first, f.deps, f.gateway);
    expect(f.deps.signers.recoveries).toBe(2);
    const second = await request(f, [{ agent: alice, tasks: tasks(2) }], {
      amount: 1_000n,
      chargedBefore: 200n,
    });
    expect(second.session.signature).toBe(first.session.signature);
    const res = await validateStream(second, f.deps, f.gateway);
    expect(res.accepted).toEqual([0, 1]);
    expect(f.deps.signers.recoveries).toBe(3);
  });

  test("a batch validated again (a gateway's retry) counts its agents' successes once", async () => {
    const f = await fixture();
    const req = await request(f, [
      { agent: alice, tasks: tasks(3) },
      { agent: bob, tasks: tasks(1) },
    ]);
    const first = await validateStream(req, f.deps, f.gateway);
    const again = await validateStream(req, f.deps, f.gateway);
    expect(again.receiptsRoot).toBe(first.receiptsRoot);
    const a = f.reputation.get(alice.address);
    expect([a.successes, f.reputation.get(bob.address).successes]).toEqual([3, 1]);
    expect(a.latencyEwmaMs).not.toBeNull();
    expect(a.score).toBeGreaterThan(0);
    // Local successes keep no event ids (the stored receipt is what makes them count once).
    for (const item of req.items) expect(f.reputation.has(`${item.requestId}:success`)).toBe(false);
  });

  test("a forged agent batch rejects only its own items", async () => {
    const f = await fixture();
    const req = await request(f, [
      { agent: alice, tasks: tasks(2) },
      { agent: bob, tasks: tasks(2), signer: newAccount() },
    ]);
    const res = await validateStream(req, f.deps, f.gateway);
    expect(res.accepted).toEqual([0, 1]);
    expect(reasonsOf(res)).toEqual([
      [2, "SIGNATURE_INVALID", "agent_batch_signer"],
      [3, "SIGNATURE_INVALID", "agent_batch_signer"],
    ]);
    expect<string[]>(res.leaves).toEqual(
      req.items.slice(0, 2).map((i) => receiptDigest(f.domain, i.receipt)),
    );
    expect(f.receipts.get(receiptDigest(f.domain, req.items[2]?.receipt ?? never()))).toBeUndefined();
    expect(f.reputation.get(bob.address).successes).toBe(0);
  });

  test("a wrong Merkle proof, a tampered output, a foreign receipt and a repeated request are rejected by item", async () => {
    const f = await fixture();
    // The voucher covers the six requests and the repeated one.
    const req = await request(
      f,
      [
        { agent: alice, tasks: tasks(4) },
        { agent: bob, tasks: tasks(2) },
      ],
      { amount: 700n },
    );
    const items = [...req.items];
    const at = (i: number) => items[i] ?? never();
    // 0: the proof of another leaf.
    items[0] = { ...at(0), proof: at(1).proof };
    // 1: an output the receipt's outputHash does not cover (the receipt itself is genuine).
    items[1] = { ...at(1), result: floatResult([9, 9, 9]) };
    // 4: bob's receipt filed under alice's batch.
    items[4] = { ...at(4), agentBatch: 0 };
    // 6: request 2 again.
    items.push(at(2));
    const res = await validateStream({ ...req, items } as StreamBatchRequest, f.deps, f.gateway);
    expect(res.accepted).toEqual([2, 3, 5]);
    expect(reasonsOf(res)).toEqual([
      [0, "SIGNATURE_INVALID", "receipt_not_in_batch"],
      [1, "VALIDATION_REFUSED", "output_hash_mismatch"],
      [4, "VALIDATION_REFUSED", "agent_mismatch"],
      [6, "CONFLICT", "duplicate_request"],
    ]);
  });

  test("the voucher must be the client's and cover what was charged before plus the batch", async () => {
    const f = await fixture({ deposit: 10_000n });
    const groups = [{ agent: alice, tasks: tasks(3) }];
    const cases: [{ amount?: bigint; chargedBefore?: bigint }, string, string][] = [
      [{ amount: 299n }, "INSUFFICIENT_FUNDS", "voucher_underpaid"],
      [{ chargedBefore: 500n, amount: 799n }, "INSUFFICIENT_FUNDS", "voucher_underpaid"],
      [{ amount: 20_000n, chargedBefore: 19_000n }, "INSUFFICIENT_FUNDS", "voucher_exceeds_deposit"],
    ];
    for (const [extra, code, reason] of cases) {
      expect(await refusalOf(validateStream(await request(f, groups, extra), f.deps, f.gateway))).toEqual({
        code,
        reason,
      });
    }
    const forged = await streamRequest(f.domain, groups, {
      sessionId: f.sessionId,
      client: f.client,
      voucherSigner: newAccount(),
      modelHash: f.modelHash,
    });
    expect(await refusalOf(validateStream(forged, f.deps, f.gateway))).toEqual({
      code: "SIGNATURE_INVALID",
      reason: "voucher_signer",
    });
    // What was settled on chain does not raise the bar: a validator asked after the others
    // may find this very batch settled already.
    const session = f.payments.sessions.get(f.sessionId) ?? never();
    session.settled = 1_000n;
    expect(
      await refusalOf(
        validateStream(await request(f, groups, { chargedBefore: 100n, amount: 399n }), f.deps, f.gateway),
      ),
    ).toEqual({
      code: "INSUFFICIENT_FUNDS",
      reason: "voucher_underpaid",
    });
    const covered = await validateStream(
      await request(f, groups, { chargedBefore: 100n, amount: 400n }),
      f.deps,
      f.gateway,
    );
    expect(covered.accepted).toEqual([0, 1, 2]);
    session.closed = true;
    expect(
      await refusalOf(validateStream(await request(f, groups, { amount: 1_300n }), f.deps, f.gateway)),
    ).toEqual({
      code: "PAYMENT_EXPIRED",
      reason: "session_closed",
    });
    session.closed = false;
    session.expiry = f.payments.chainNow;
    expect(
      await refusalOf(validateStream(await request(f, groups, { amount: 1_300n }), f.deps, f.gateway)),
    ).toEqual({
      code: "PAYMENT_EXPIRED",
      reason: "session_expired",
    });
    f.payments.sessions.clear();
    expect(
      await refusalOf(validateStream(await request(f, groups, { amount: 1_300n }), f.deps, f.gateway)),
    ).toEqual({
      code: "PAYMENT_REQUIRED",
      reason: "session_unknown",
    });
    // Nothing of a refused call was kept.
    expect(f.reputation.get(alice.address).successes).toBe(3);
  });

  test("a voucher of the session's current delegate (an API key) counts as the client's; revoked, it is refused", async () => {
    const f = await fixture({ deposit: 10_000n, chainViewMs: 0 });
    const delegate = newAccount();
    const signedBy = async (voucherSigner: typeof delegate) =>
      streamRequest(f.domain, [{ agent: alice, tasks: tasks(2) }], {
        sessionId: f.sessionId,
        client: f.client,
        voucherSigner,
        modelHash: f.modelHash,
      });
    const session = f.payments.sessions.get(f.sessionId) ?? never();
    expect(await refusalOf(validateStream(await signedBy(delegate), f.deps, f.gateway))).toEqual({
      code: "SIGNATURE_INVALID",
      reason: "voucher_signer",
    });
    session.signer = delegate.address.toLowerCase() as `0x${string}`;
    expect((await validateStream(await signedBy(delegate), f.deps, f.gateway)).accepted).toEqual([0, 1]);
    // Another key still is not the client, and the delegate's own earlier signature stops counting once revoked.
    expect(await refusalOf(validateStream(await signedBy(newAccount()), f.deps, f.gateway))).toEqual({
      code: "SIGNATURE_INVALID",
      reason: "voucher_signer",
    });
    delete session.signer;
    expect(await refusalOf(validateStream(await signedBy(delegate), f.deps, f.gateway))).toEqual({
      code: "SIGNATURE_INVALID",
      reason: "voucher_signer",
    });
  });

  test("chain reads are reused for a moment between calls, then read again", async () => {
    const f = await fixture({ deposit: 10_000n, chainViewMs: 300 });
    // Fresh requests each call: a request id gets one completion.
    const groups = () => [{ agent: alice, tasks: tasks(3) }];
    let reads = 0;
    const read = f.payments.session.bind(f.payments);
    f.payments.session = async (id) => {
      reads++;
      return read(id);
    };
    await validateStream(await request(f, groups(), { amount: 1_300n }), f.deps, f.gateway);
    await validateStream(await request(f, groups(), { amount: 1_300n }), f.deps, f.gateway);
    expect(reads).toBe(1);
    await new Promise((r) => setTimeout(r, 350));
    f.payments.sessions.clear(); // gone on chain: seen once the reuse ran out
    expect(
      await refusalOf(validateStream(await request(f, groups(), { amount: 1_300n }), f.deps, f.gateway)),
    ).toEqual({
      code: "PAYMENT_REQUIRED",
      reason: "session_unknown",
    });
    expect(reads).toBe(2);
  });

  test("an unregistered agent's items, a model the subnet does not offer and a low price are rejected; an all-bad batch is refused", async () => {
    const f = await fixture();
    const stranger = newAccount();
    const cheap = tasks(1).map((t) => ({ ...t, price: "99" }));
    // 25 times the subnet's price: a gateway may not charge what it likes.
    const dear = tasks(1).map((t) => ({ ...t, price: "2500" }));
    const req = await request(f, [
      { agent: alice, tasks: [...tasks(1), ...cheap, ...dear] },
      { agent: stranger, tasks: tasks(2) },
    ]);
    const res = await validateStream(req, f.deps, f.gateway);
    expect(res.accepted).toEqual([0]);
    expect(reasonsOf(res)).toEqual([
      [1, "VALIDATION_REFUSED", "price_not_subnet_price"],
      [2, "VALIDATION_REFUSED", "price_not_subnet_price"],
      [3, "NOT_FOUND", "agent_unknown"],
      [4, "NOT_FOUND", "agent_unknown"],
    ]);
    const other = tasks(1).map((t) => ({ ...t, input: floatInput("other-model", [1, 2, 3, 4]) }));
    const none = await request(f, [{ agent: alice, tasks: other }]);
    expect(await refusalOf(validateStream(none, f.deps, f.gateway))).toEqual({
      code: "VALIDATION_REFUSED",
      reason: "batch_empty",
    });
  });

  test("sampled re-execution catches a wrong output and reports the agent", async () => {
    const runs: string[] = [];
    const f = await fixture({
      spotCheck: { fraction: 1, atol: 1e-4, rtol: 1e-3 },
      reexecutor: {
        async run(_model, inputs) {
          const x = inputs.x ?? never();
          runs.push(String(x.data[0]));
          const data = new Float32Array((x.data as Float32Array).slice(0, 3));
          return { y: { dtype: "float32", dims: [1, 3], data } as Tensor };
        },
      },
    });
    const honest = tasks(2);
    const liar = { ...(tasks(1)[0] ?? never()) };
    const x = tensorMapFromJson(liar.input.kind === "tensor" ? liar.input.inputs : never()).x ?? never();
    liar.result = floatResult([Number(x.data[0]) + 1, 0, 0]);
    const res = await validateStream(
      await request(f, [{ agent: alice, tasks: [...honest, liar] }]),
      f.deps,
      f.gateway,
    );
    expect(runs.length).toBe(3);
    expect(res.accepted).toEqual([0, 1]);
    expect(reasonsOf(res)).toEqual([[2, "VALIDATION_REFUSED", "spot_check_failed"]]);
    expect(f.reputation.get(alice.address).failedSpotChecks).toBe(1);
  });

  test("receipts accepted here are settled by the existing settlement validation", async () => {
    const f = await fixture();
    const req = await request(f, [
      { agent: alice, tasks: tasks(3) },
      { agent: bob, tasks: tasks(1) },
    ]);
    const res = await validateStream(req, f.deps, f.gateway);
    expect(res.accepted.length).toBe(4);
    const batchId = keccak256(stringToHex(`batch:${res.receiptsRoot}`));
    const payouts = [
      { node: addressOf(alice), amount: "300" },
      { node: addressOf(bob), amount: "100" },
    ];
    const settlement = v.parse(SettlementRequest, {
      batchId,
      gateway: f.gateway,
      receiptsRoot: res.receiptsRoot,
      receiptDigests: res.leaves,
      sessions: [
        {
          sessionId: f.sessionId,
          voucherAmount: req.session.cumulativeAmount,
          voucherSignature: req.session.signature,
        },
      ],
      payouts,
    });
    const deps = { payments: f.payments, signer: f.signer, receipts: f.receipts };
    const signed = await validateSettlement(settlement, deps, f.gateway);
    expect(signed.total).toBe("400");
    const signer = await recoverTypedDataAddress({
      ...typedData(f.domain, "SettlementBatch", {
        batchId,
        gateway: f.gateway,
        receiptsRoot: res.receiptsRoot,
        vouchersHash: vouchersHash([f.sessionId], [400n]),
        payoutsHash: payoutsHash(
          payouts.map((p) => p.node),
          [300n, 100n],
        ),
        total: 400n,
      }),
      signature: signed.signature,
    });
    expect(signer.toLowerCase()).toBe(f.signer.address);
    // A receipt the stream rejected is not one the validator will settle.
    const forged = await request(f, [{ agent: alice, tasks: tasks(1), signer: newAccount() }], {
      amount: 500n,
    });
    await refusalOf(validateStream(forged, f.deps, f.gateway));
    const unpaid = await refusalOf(
      validateSettlement(
        {
          ...settlement,
          batchId: keccak256(stringToHex("another batch")) as SettlementRequest["batchId"],
          receiptDigests: [
            receiptDigest(f.domain, forged.items[0]?.receipt ?? never()),
          ] as SettlementRequest["receiptDigests"],
        },
        deps,
        f.gateway,
      ),
    );
    expect(unpaid).toEqual({ code: "VALIDATION_REFUSED", reason: "receipt_not_attested" });
  });
});

describe("POST /v1/validate/stream", () => {
  let node: RegistryNode;
  let dir: ReturnType<typeof tempDir>;
  const client = newAccount();
  const gateway = newAccount();
  const sessionId = keccak256(stringToHex("http-session"));
  const payments = memoryPaymentReader(ncnDomain(31337, "0x5fbdb2315678afecb367f032d93f642f64180aa3"));

  beforeAll(async () => {
    dir = tempDir();
    payments.sessions.set(sessionId, {
      client: addressOf(client),
      gateway: addressOf(gateway),
      deposit: 10n ** 18n,
      settled: 0n,
      expiry: payments.chainNow + 3_600n,
      closed: false,
    });
    node = await startTestNode(dir.path, {
      config: {
        validatorKey: generatePrivateKey(),
        spotCheckFraction: 0,
        trustedGateways: [addressOf(gateway)],
      },
      payments,
    });
    const owner = newAccount();
    for (const record of [
      await subnetRecord(owner, { models: [{ id: "tiny-mlp", price: "100" }] }),
      await modelRecord(owner, fakeModel("tiny-mlp")),
      await agentRecord(alice),
      await agentRecord(bob),
    ]) {
      node.index.upsert(record);
    }
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
    dir?.cleanup();
  });

  async function post(body: string, as = gateway) {
    const { status, body: json } = await postAsGateway(as, `${node.url}/v1/validate/stream`, body);
    return { status, json: json as unknown };
  }

  test("a good batch is attested by the node's key; a bad body or voucher gets a typed error", async () => {
    const groups = [
      { agent: alice, tasks: tasks(2, "http") },
      { agent: bob, tasks: tasks(1, "http") },
    ];
    const build = { sessionId, client, modelHash: fakeModel("tiny-mlp").sha256 };
    const req = await streamRequest(payments.domain, groups, build);
    const ok = await post(JSON.stringify(req));
    expect(ok.status).toBe(200);
    const res = v.parse(BatchCompletionResponse, ok.json);
    expect(res.accepted).toEqual([0, 1, 2]);
    expect<string[]>(res.leaves).toEqual(req.items.map((i) => receiptDigest(payments.domain, i.receipt)));
    const signer = await recoverTypedDataAddress({
      ...typedData(payments.domain, "Attestation", {
        requestId: res.receiptsRoot,
        phase: 1,
        subject: res.receiptsRoot,
        outputHash: ZERO_BYTES32,
      }),
      signature: res.attestation.signature,
    });
    expect<string | undefined>(signer.toLowerCase()).toBe(node.signer?.address);
    expect(node.validation.stats.stream).toBe(1);

    const invalid = await post(JSON.stringify({ ...req, items: [{ ...req.items[0], proof: ["0x12"] }] }));
    expect(invalid.status).toBe(400);
    const err = v.parse(ErrorBody, invalid.json).error;
    expect(err.code).toBe("INVALID_INPUT");
    expect(err.message).toContain("items[0].proof[0]");
    const notJson = await post("{oops");
    expect([notJson.status, v.parse(ErrorBody, notJson.json).error.code]).toEqual([400, "INVALID_INPUT"]);

    const stranger = newAccount();
    const forged = {
      ...req,
      session: {
        ...req.session,
        signature: await signVoucher(
          stranger,
          payments.domain,
          sessionId,
          BigInt(req.session.cumulativeAmount),
        ),
      },
    };
    const refused = await post(JSON.stringify(forged));
    expect(refused.status).toBe(401);
    const body = v.parse(ErrorBody, refused.json).error;
    expect([body.code, (body.details as { reason?: string }).reason]).toEqual([
      "SIGNATURE_INVALID",
      "voucher_signer",
    ]);
  });

  test("the validation socket gives the same answers as the HTTP route, matched by id", async () => {
    const ws = await validationSocket(gateway, node.url);
    const answers = new Map<number, { ok: boolean; body?: unknown; error?: { code: string } }>();
    ws.addEventListener("message", (e) => {
      const m = JSON.parse(String(e.data)) as { id: number; ok: boolean };
      answers.set(m.id, m);
    });
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener("error", reject, { once: true });
    });
    const build = { sessionId, client, modelHash: fakeModel("tiny-mlp").sha256 };
    const good = await streamRequest(payments.domain, [{ agent: alice, tasks: tasks(2, "ws") }], build);
    const stranger = newAccount();
    const forged = {
      ...good,
      session: {
        ...good.session,
        signature: await signVoucher(
          stranger,
          payments.domain,
          sessionId,
          BigInt(good.session.cumulativeAmount),
        ),
      },
    };
    ws.send(JSON.stringify({ id: 7, op: "stream", body: good }));
    ws.send(JSON.stringify({ id: 8, op: "stream", body: forged }));
    ws.send(JSON.stringify({ id: 9, op: "stream", body: { ...good, items: [] } }));
    ws.send("{oops");
    const until = Date.now() + 10_000;
    while (answers.size < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    ws.close();
    const ok = answers.get(7);
    expect(ok?.ok).toBe(true);
    const res = v.parse(BatchCompletionResponse, ok?.body);
    expect(res.accepted).toEqual([0, 1]);
    expect(res.attestation.validator).toBe(node.signer?.address as never);
    expect([answers.get(8)?.ok, answers.get(8)?.error?.code]).toEqual([false, "SIGNATURE_INVALID"]);
    expect([answers.get(9)?.ok, answers.get(9)?.error?.code]).toEqual([false, "INVALID_INPUT"]);
    expect([answers.get(-1)?.ok, answers.get(-1)?.error?.code]).toEqual([false, "INVALID_INPUT"]);
  });
});

function never(): never {
  throw new Error("missing test value");
}
