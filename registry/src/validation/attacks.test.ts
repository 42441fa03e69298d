import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  abandonBatch,
  createNcnReadClient,
  creditOf,
  devKey,
  initiateEscrow,
  type LocalChain,
  openSession,
  paymentDomain,
  readSession,
  settleBatch,
  startLocalChain,
} from "@ncn/contracts";
import {
  AttestationResponse,
  BatchCompletionResponse,
  idToBytes32,
  merkleBatch,
  type PreprocessRequest,
  SettlementSignature,
} from "@ncn/protocol";
import * as v from "valibot";
import { keccak256, stringToHex } from "viem";
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import type { RegistryNode } from "../node.ts";
import { startTestNode, tempDir, waitFor } from "../test-support/cluster.ts";
import { floatInput, floatResult, signedCompletion } from "../test-support/completions.ts";
import { postAsGateway } from "../test-support/gateway.ts";
import { claimNamesOf } from "../test-support/names.ts";
import { agentRecord, fakeModel, modelRecord, newAccount, subnetRecord } from "../test-support/records.ts";
import { type AgentGroup, signVoucher, streamRequest } from "../test-support/stream.ts";

// Attacks on the validators, mounted against real parts: anvil with the contracts, two
// validator nodes (a majority of both is what the chain accepts), the gateway's key.
let chain: LocalChain;
let dir: ReturnType<typeof tempDir>;
let a: RegistryNode;
let b: RegistryNode;
const gatewayKey = devKey("gateway");
const gatewayAccount = privateKeyToAccount(gatewayKey);
const gateway = gatewayAccount.address.toLowerCase() as `0x${string}`;
/** A second gateway the validators also serve. */
const otherGateway = newAccount();
const agent = newAccount();
/** An agent the attacker registered: permissionless, so it is eligible like any other. */
const mallory = newAccount();
const owner = newAccount();
const model = fakeModel("tiny-mlp");
const clientKeys = { victim: devKey("victim"), attacker: devKey("attacker"), honest: devKey("honest") };

beforeAll(async () => {
  chain = await startLocalChain({
    validators: 2,
    deploy: {
      threshold: 1,
      fund: [
        ...Object.values(clientKeys).map((k) => ({
          address: privateKeyToAccount(k).address,
          tokens: 10n ** 21n,
          ether: 10n ** 20n,
        })),
        { address: gateway, ether: 10n ** 20n },
      ],
    },
  });
  dir = tempDir();
  const config = {
    rpcUrl: chain.anvil.url,
    paymentContract: chain.contracts.payment,
    validatorRegistry: chain.contracts.registry,
    spotCheckFraction: 0,
    trustedGateways: [gateway, otherGateway.address.toLowerCase()],
  };
  a = await startTestNode(join(dir.path, "a"), {
    config: { ...config, validatorKey: chain.validatorKeys[0] },
  });
  b = await startTestNode(join(dir.path, "b"), {
    config: { ...config, validatorKey: chain.validatorKeys[1], bootstrap: a.multiaddrs() },
  });
  await waitFor(() => a.routingTableSize() > 0 && b.routingTableSize() > 0, 10_000, "nodes connected");
  await waitFor(
    () => a.gossip.subscribers("/ncn/records/1") > 0 && b.gossip.subscribers("/ncn/records/1") > 0,
  );
  const catalog = [
    await subnetRecord(owner, { models: [{ id: "tiny-mlp", price: "100" }] }),
    await modelRecord(owner, model),
  ];
  await claimNamesOf(chain, owner, catalog);
  for (const record of [...catalog, await agentRecord(agent), await agentRecord(mallory)]) {
    await a.records.publish(record);
  }
  await waitFor(() => b.index.get("agent", mallory.address.toLowerCase()), 5_000, "records on b");
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await chain?.stop();
  dir?.cleanup();
});

const domain = () => paymentDomain(chain.deployment.chainId, chain.contracts.payment);
const nowSec = () => BigInt(Math.floor(Date.now() / 1000));
const reader = () => createNcnReadClient({ rpcUrl: chain.anvil.url, chainId: chain.deployment.chainId });
const input = floatInput("tiny-mlp", [1, 2, 3, 4]);
const result = floatResult([0.5, 0, 1.25]);

function post(node: RegistryNode, path: string, body: unknown, as: PrivateKeyAccount = gatewayAccount) {
  return postAsGateway(as, `${node.url}${path}`, body);
}

function reasonOf(body: Record<string, unknown>) {
  const error = body.error as { code: string; details?: { reason?: string } };
  return [error.code, error.details?.reason];
}

/** What a node stored for a request or an agent: attestations, attested receipts, successes. */
function storedFor(node: RegistryNode, requestId: string, who: PrivateKeyAccount) {
  const receipts = node.db
    .query<{ n: number }, [string]>("SELECT COUNT(*) AS n FROM attested_receipts WHERE agent = ?1")
    .get(who.address.toLowerCase())?.n;
  return {
    attestations: node.attestations.list(idToBytes32(requestId)).length,
    receipts,
    successes: node.reputation.get(who.address).successes,
  };
}

/** A session of `clientKey` for the gateway, with a voucher signer. */
async function session(clientKey: `0x${string}`, amount: bigint) {
  const client = chain.client(clientKey);
  const opened = await openSession(client, chain.contracts, { gateway, amount, expiry: nowSec() + 86_400n });
  const account = privateKeyToAccount(clientKey);
  return {
    ...opened,
    account,
    voucher: (cumulativeAmount: bigint) =>
      signVoucher(account, domain(), opened.sessionId as `0x${string}`, cumulativeAmount),
  };
}

/** Has both validators validate a stream batch of `groups` on a session; returns the answer of each. */
async function streamOnBoth(
  s: Awaited<ReturnType<typeof session>>,
  groups: AgentGroup[],
  chargedBefore = 0n,
) {
  const req = await streamRequest(domain(), groups, {
    sessionId: s.sessionId as `0x${string}`,
    client: s.account,
    modelHash: model.sha256,
    chargedBefore,
  });
  const answers = [];
  for (const node of [a, b]) {
    const res = await post(node, "/v1/validate/stream", req);
    expect(res.status).toBe(200);
    answers.push(v.parse(BatchCompletionResponse, res.body));
  }
  return { req, answers };
}

const tasks = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    requestId: `${prefix}-${i}`,
    input: floatInput("tiny-mlp", [i, 1, 2, 3]),
    result: floatResult([i, 1, 2]),
  }));

/** Pre-attests an escrow-paid request for `who` on `nodes`; returns the deadline the completion carries. */
async function preattest(
  nodes: RegistryNode[],
  requestId: string,
  who = agent,
  price = "100",
): Promise<number> {
  await initiateEscrow(chain.client(clientKeys.honest), chain.contracts, {
    requestId: idToBytes32(requestId),
    subnetId: idToBytes32("vision"),
    gateway,
    amount: 100n,
    expiry: nowSec() + 3_600n,
  });
  const req = {
    requestId,
    subnet: "vision",
    model: "tiny-mlp",
    agent: who.address.toLowerCase(),
    price,
    payment: { mode: "escrow" },
    deadline: Date.now() + 60_000,
  } as PreprocessRequest;
  for (const node of nodes) {
    const res = await post(node, "/v1/validate/preprocess", req);
    expect([requestId, res.status]).toEqual([requestId, 200]);
  }
  return req.deadline;
}

describe("attacks on completion attestations", () => {
  test("a fabricated completion self-signed by an unregistered key is refused on every path, stores nothing and earns nothing", async () => {
    const forger = newAccount();
    const forged = await signedCompletion(forger, domain(), {
      requestId: "forged-1",
      modelHash: model.sha256,
      input,
      result,
    });
    const alone = await post(a, "/v1/validate/completion", forged);
    expect([alone.status, ...reasonOf(alone.body)]).toEqual([422, "VALIDATION_REFUSED", "not_preattested"]);
    const batch = await post(a, "/v1/validate/completion/batch", { items: [forged] });
    expect([batch.status, ...reasonOf(batch.body)]).toEqual([422, "VALIDATION_REFUSED", "batch_empty"]);
    // Nor can the gateway get the unregistered key pre-attested, or its receipts through a stream.
    const pre = await post(a, "/v1/validate/preprocess", {
      requestId: "forged-2",
      subnet: "vision",
      model: "tiny-mlp",
      agent: forger.address.toLowerCase(),
      price: "100",
      payment: { mode: "escrow" },
      deadline: Date.now() + 60_000,
    });
    expect([pre.status, ...reasonOf(pre.body)]).toEqual([404, "NOT_FOUND", "agent_unknown"]);
    const s = await session(clientKeys.victim, 10_000n);
    const req = await streamRequest(domain(), [{ agent: forger, tasks: tasks("forged-stream", 2) }], {
      sessionId: s.sessionId as `0x${string}`,
      client: s.account,
      modelHash: model.sha256,
    });
    const stream = await post(a, "/v1/validate/stream", req);
    expect([stream.status, ...reasonOf(stream.body)]).toEqual([422, "VALIDATION_REFUSED", "batch_empty"]);
    expect(storedFor(a, "forged-1", forger)).toEqual({ attestations: 0, receipts: 0, successes: 0 });
    expect(storedFor(b, "forged-1", forger)).toEqual({ attestations: 0, receipts: 0, successes: 0 });
  });

  test("a price 25 times the subnet's is refused before dispatch, at completion and in a stream", async () => {
    const pre = await post(a, "/v1/validate/preprocess", {
      requestId: "dear-1",
      subnet: "vision",
      model: "tiny-mlp",
      agent: agent.address.toLowerCase(),
      price: "2500",
      payment: { mode: "escrow" },
      deadline: Date.now() + 60_000,
    });
    expect([pre.status, ...reasonOf(pre.body)]).toEqual([
      422,
      "VALIDATION_REFUSED",
      "price_not_subnet_price",
    ]);
    // Pre-attested at the subnet's price, completed at 25 times it.
    const deadline = await preattest([a], "dear-2");
    const dear = await signedCompletion(agent, domain(), {
      requestId: "dear-2",
      modelHash: model.sha256,
      input,
      result,
      price: "2500",
      deadline,
    });
    const completed = await post(a, "/v1/validate/completion", dear);
    expect([completed.status, ...reasonOf(completed.body)]).toEqual([
      422,
      "VALIDATION_REFUSED",
      "preprocess_mismatch",
    ]);
    const s = await session(clientKeys.victim, 10_000n);
    const req = await streamRequest(
      domain(),
      [{ agent, tasks: tasks("dear-stream", 1).map((t) => ({ ...t, price: "2500" })) }],
      { sessionId: s.sessionId as `0x${string}`, client: s.account, modelHash: model.sha256 },
    );
    const stream = await post(a, "/v1/validate/stream", req);
    const rejected = (stream.body.error as { details: { rejected: { details: { reason: string } }[] } })
      .details.rejected;
    expect(rejected.map((r) => r.details.reason)).toEqual(["price_not_subnet_price"]);
  });

  test("a genuine receipt without a pre-attestation, or completed by another gateway than the one that pre-attested, is refused", async () => {
    const unasked = await signedCompletion(agent, domain(), {
      requestId: "unasked-1",
      modelHash: model.sha256,
      input,
      result,
    });
    const res = await post(a, "/v1/validate/completion", unasked);
    expect([res.status, ...reasonOf(res.body)]).toEqual([422, "VALIDATION_REFUSED", "not_preattested"]);
    const deadline = await preattest([a], "other-gw-1");
    const completion = await signedCompletion(agent, domain(), {
      requestId: "other-gw-1",
      modelHash: model.sha256,
      input,
      result,
      deadline,
    });
    const other = await post(a, "/v1/validate/completion", completion, otherGateway);
    expect([other.status, ...reasonOf(other.body)]).toEqual([
      403,
      "FORBIDDEN",
      "preprocess_gateway_mismatch",
    ]);
    expect(a.attestations.list(idToBytes32("other-gw-1"), 1)).toEqual([]);
  });

  test("one completion per request id: the same one again gets the same attestation, a different one is refused with the first", async () => {
    const deadline = await preattest([a], "once-1");
    const first = await signedCompletion(agent, domain(), {
      requestId: "once-1",
      modelHash: model.sha256,
      input,
      result,
      deadline,
    });
    const signed = await post(a, "/v1/validate/completion", first);
    expect(signed.status).toBe(200);
    const attestation = v.parse(AttestationResponse, signed.body).attestation;
    const retried = await post(a, "/v1/validate/completion", first);
    expect(v.parse(AttestationResponse, retried.body).attestation).toEqual(attestation);
    // Another output for the same request: what reportDoubleSign would need. Refused, the first returned.
    const second = await signedCompletion(agent, domain(), {
      requestId: "once-1",
      modelHash: model.sha256,
      input,
      result: floatResult([9, 9, 9]),
      deadline,
    });
    const conflict = await post(a, "/v1/validate/completion", second);
    expect([conflict.status, ...reasonOf(conflict.body)]).toEqual([409, "CONFLICT", "completion_conflict"]);
    const details = (conflict.body.error as { details: { first: { attestation: unknown } } }).details;
    expect(details.first.attestation).toEqual(attestation);
    expect(a.attestations.list(idToBytes32("once-1"), 1)).toEqual([attestation]);

    // Stream items too: a retried item is accepted as it was, another receipt for its id is not.
    const s = await session(clientKeys.honest, 10_000n);
    const items = tasks("once-stream", 2);
    const { req, answers } = await streamOnBoth(s, [{ agent, tasks: items }]);
    const again = await post(a, "/v1/validate/stream", req);
    expect(v.parse(BatchCompletionResponse, again.body).leaves).toEqual(answers[0]?.leaves ?? []);
    const changed = await streamRequest(
      domain(),
      [{ agent, tasks: [{ ...(items[0] as (typeof items)[0]), result: floatResult([7, 7, 7]) }] }],
      {
        sessionId: s.sessionId as `0x${string}`,
        client: s.account,
        modelHash: model.sha256,
        chargedBefore: 200n,
      },
    );
    const refused = await post(a, "/v1/validate/stream", changed);
    const rejected = (
      refused.body.error as { details: { rejected: { code: string; details: { reason: string } }[] } }
    ).details.rejected;
    expect(rejected.map((r) => [r.code, r.details.reason])).toEqual([["CONFLICT", "completion_conflict"]]);
  });

  test("callers without a trusted gateway's token get 401 and store nothing", async () => {
    const deadline = await preattest([a], "anon-1");
    const completion = await signedCompletion(agent, domain(), {
      requestId: "anon-1",
      modelHash: model.sha256,
      input,
      result,
      deadline,
    });
    for (const path of ["/v1/validate/completion", "/v1/validate/settlement", "/v1/validate/stream"]) {
      const res = await fetch(`${a.url}${path}`, { method: "POST", body: JSON.stringify(completion) });
      expect([path, res.status]).toEqual([path, 401]);
    }
    expect(a.attestations.list(idToBytes32("anon-1"), 1)).toEqual([]);
  });
});

describe("attacks on settlement", () => {
  test("draining a stranger's session: receipts charged elsewhere or never attested are refused and nothing moves on chain", async () => {
    const victim = await session(clientKeys.victim, 10_000n);
    // The window voucher a client signs at stream open: anyone who sees it could try to spend it.
    const windowVoucher = { amount: 5_000n, signature: await victim.voucher(5_000n) };
    const attacker = await session(clientKeys.attacker, 1_000n);
    const { req, answers } = await streamOnBoth(attacker, [{ agent: mallory, tasks: tasks("drain", 3) }]);
    const leaves: `0x${string}`[] = answers[0]?.leaves ?? [];
    const asked = (
      sessions: { sessionId: string; voucherAmount: string; voucherSignature: string }[],
      digests = leaves,
    ) => ({
      batchId: keccak256(stringToHex(`drain:${sessions.length}:${digests.length}:${Math.random()}`)),
      gateway,
      receiptsRoot: merkleBatch(digests).root,
      receiptDigests: digests,
      sessions,
      payouts: [{ node: mallory.address.toLowerCase(), amount: String(100 * digests.length) }],
    });
    const victimSession = {
      sessionId: victim.sessionId,
      voucherAmount: windowVoucher.amount.toString(),
      voucherSignature: windowVoucher.signature,
    };
    // The attacker's receipts under the victim's voucher.
    const theirs = await post(a, "/v1/validate/settlement", asked([victimSession]));
    expect(reasonOf(theirs.body)).toEqual(["VALIDATION_REFUSED", "receipt_session_not_in_batch"]);
    // Both sessions listed: the victim's increase is not paid by receipts of its own.
    const attackerSession = {
      sessionId: attacker.sessionId,
      voucherAmount: req.session.cumulativeAmount,
      voucherSignature: req.session.signature,
    };
    const both = await post(a, "/v1/validate/settlement", asked([victimSession, attackerSession]));
    expect(reasonOf(both.body)).toEqual(["VALIDATION_REFUSED", "session_increase_mismatch"]);
    // Receipts nobody attested.
    const fabricated = [keccak256(stringToHex("fake-1")), keccak256(stringToHex("fake-2"))];
    const fake = await post(a, "/v1/validate/settlement", asked([victimSession], fabricated));
    expect(reasonOf(fake.body)).toEqual(["VALIDATION_REFUSED", "receipt_not_attested"]);
    // Without validator signatures the chain pays nothing.
    const attempt = settleBatch(chain.client(gatewayKey), chain.contracts, {
      batch: {
        batchId: keccak256(stringToHex("drain-onchain")),
        gateway,
        receiptsRoot: merkleBatch(leaves).root,
        vouchers: [
          {
            sessionId: victim.sessionId,
            salt: victim.salt,
            cumulativeAmount: 5_000n,
            signature: windowVoucher.signature,
          },
        ],
        payouts: [{ node: mallory.address, amount: 5_000n }],
      },
      validatorSignatures: [],
    });
    expect(
      await attempt.then(
        () => "settled",
        () => "reverted",
      ),
    ).toBe("reverted");
    expect((await readSession(reader(), chain.contracts, victim.sessionId)).settled).toBe(0n);
    expect(await creditOf(reader(), chain.contracts, mallory.address)).toBe(0n);

    // Settled once for their own session, the same receipts cannot be paid by another.
    const own = asked([attackerSession]);
    const sigs = [];
    for (const node of [a, b])
      sigs.push(v.parse(SettlementSignature, (await post(node, "/v1/validate/settlement", own)).body));
    await settleBatch(chain.client(gatewayKey), chain.contracts, {
      batch: {
        batchId: own.batchId,
        gateway,
        receiptsRoot: own.receiptsRoot,
        vouchers: [
          {
            sessionId: attacker.sessionId,
            salt: attacker.salt,
            cumulativeAmount: 300n,
            signature: req.session.signature,
          },
        ],
        payouts: [{ node: mallory.address, amount: 300n }],
      },
      validatorSignatures: sigs.map((s) => s.signature),
    });
    const twice = await post(a, "/v1/validate/settlement", asked([victimSession, attackerSession]));
    expect(reasonOf(twice.body)).toEqual(["CONFLICT", "receipt_already_settled"]);
    expect((await readSession(reader(), chain.contracts, victim.sessionId)).settled).toBe(0n);
  });

  test("receipts signed into one batch join another only once the first is abandoned on chain, and never after one settled", async () => {
    const honest = await session(clientKeys.honest, 10_000n);
    const { req, answers } = await streamOnBoth(honest, [{ agent, tasks: tasks("claimed", 2) }]);
    const leaves = answers[0]?.leaves ?? [];
    const voucher = {
      sessionId: honest.sessionId,
      voucherAmount: req.session.cumulativeAmount,
      voucherSignature: req.session.signature,
    };
    const batch = (label: string) => ({
      batchId: keccak256(stringToHex(`claimed:${label}`)),
      gateway,
      receiptsRoot: merkleBatch(leaves).root,
      receiptDigests: leaves,
      sessions: [voucher],
      payouts: [{ node: agent.address.toLowerCase(), amount: "200" }],
    });
    const signAll = async (body: ReturnType<typeof batch>) => {
      const out = [];
      for (const node of [a, b]) {
        const res = await post(node, "/v1/validate/settlement", body);
        expect(res.status).toBe(200);
        out.push(v.parse(SettlementSignature, res.body).signature);
      }
      return out;
    };
    const first = batch("B1");
    const firstSigs = await signAll(first);
    // The gateway retries its persisted batch as is: signed again, the same signature.
    expect(await signAll(first)).toEqual(firstSigs);
    const reused = await post(a, "/v1/validate/settlement", {
      ...first,
      payouts: [{ node: agent.address.toLowerCase(), amount: "199" }],
    });
    expect(reasonOf(reused.body)).toEqual(["CONFLICT", "batch_id_reused"]);
    const second = batch("B2");
    const claimed = await post(a, "/v1/validate/settlement", second);
    expect(reasonOf(claimed.body)).toEqual(["CONFLICT", "receipt_claimed"]);
    // B1 provably never lands: its receipts are free again.
    await abandonBatch(chain.client(gatewayKey), chain.contracts, { batchId: first.batchId });
    const secondSigs = await signAll(second);
    const settle = (body: ReturnType<typeof batch>, validatorSignatures: `0x${string}`[]) =>
      settleBatch(chain.client(gatewayKey), chain.contracts, {
        batch: {
          batchId: body.batchId,
          gateway,
          receiptsRoot: body.receiptsRoot,
          vouchers: [
            {
              sessionId: honest.sessionId,
              salt: honest.salt,
              cumulativeAmount: 200n,
              signature: req.session.signature,
            },
          ],
          payouts: [{ node: agent.address, amount: 200n }],
        },
        validatorSignatures,
      });
    expect(
      await settle(first, firstSigs).then(
        () => "settled",
        () => "reverted",
      ),
    ).toBe("reverted");
    expect((await settle(second, secondSigs)).total).toBe(200n);
    const third = await post(a, "/v1/validate/settlement", batch("B3"));
    expect(reasonOf(third.body)).toEqual(["CONFLICT", "receipt_already_settled"]);
    expect((await readSession(reader(), chain.contracts, honest.sessionId)).settled).toBe(200n);
  });
});
