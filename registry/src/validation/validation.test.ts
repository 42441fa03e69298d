import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  completeEscrow,
  completionAttestation,
  createNcnReadClient,
  devKey,
  initiateEscrow,
  type LocalChain,
  openSession,
  paymentDomain,
  readEscrow,
  settleBatch,
  signVoucher,
  startLocalChain,
  verifyAttestations,
} from "@ncn/contracts";
import {
  AttestationResponse,
  BatchCompletionResponse,
  digestOf,
  idToBytes32,
  merkleBatch,
  type PreprocessRequest,
  preprocessSubject,
  receiptDigest,
  receiptMessage,
  receiptStructHash,
  requestCharge,
  requestMaximum,
  SettlementSignature,
  TaskInput,
  type TaskResult,
  typedData,
  verifyMerkleProof,
} from "@ncn/protocol";
import {
  BUILTIN_MODELS,
  ModelStore,
  NCN_GLOVE,
  NCN_GLOVE_ENCODER,
  NCN_GLOVE_TOKENIZER,
  ppocrV4Task,
  STRICT_SOURCE_POLICY,
  TaskExecutor,
} from "@ncn/runtime";
import { CausalLmRuntime, NCN_GPT } from "@ncn/runtime/causal-lm";
import { OnnxRuntime } from "@ncn/runtime/onnx";
import { tinyModelBytes, tinyModelDescriptor, tinyModelReference } from "@ncn/runtime/testing";
import { renderText } from "@ncn/runtime/testing/render-text";
import * as v from "valibot";
import { recoverTypedDataAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { RegistryNode } from "../node.ts";
import { lazyOnnxReexecutor, type OnnxReexecutor } from "../reexec/onnx-reexecutor.ts";
import { startTestNode, tempDir, waitFor } from "../test-support/cluster.ts";
import { floatInput, floatResult, signedCompletion } from "../test-support/completions.ts";
import { postAsGateway } from "../test-support/gateway.ts";
import { implausibleNext } from "../test-support/language-model.ts";
import { claimNamesOf } from "../test-support/names.ts";
import { agentRecord, fakeModel, modelRecord, newAccount, subnetRecord } from "../test-support/records.ts";

let chain: LocalChain;
let dir: ReturnType<typeof tempDir>;
let a: RegistryNode;
let b: RegistryNode;
let reexecutor: OnnxReexecutor | undefined;
const agent = newAccount();
/** Serves the real tiny model; one of its results is wrong. */
const cheat = newAccount();
const owner = newAccount();
const model = fakeModel("tiny-mlp");
const gatewayKey = devKey("gateway");
const gatewayAccount = privateKeyToAccount(gatewayKey);
const gateway = gatewayAccount.address.toLowerCase() as `0x${string}`;
const clientKey = devKey("client");
const clientAddress = privateKeyToAccount(clientKey).address;

beforeAll(async () => {
  chain = await startLocalChain({
    validators: 2,
    deploy: {
      threshold: 1,
      fund: [
        { address: clientAddress, tokens: 10n ** 21n, ether: 10n ** 20n },
        { address: gateway, ether: 10n ** 20n },
      ],
    },
  });
  dir = tempDir();
  const chainConfig = {
    rpcUrl: chain.anvil.url,
    paymentContract: chain.contracts.payment,
    validatorRegistry: chain.contracts.registry,
    spotCheckFraction: 0,
    trustedGateways: [gateway],
  };
  a = await startTestNode(join(dir.path, "a"), {
    config: { ...chainConfig, validatorKey: chain.validatorKeys[0] },
  });
  // b re-executes every completion it validates, with the agent's ONNX runtime; the
  // model is a file in the test folder, which b's store is told it may read.
  reexecutor = lazyOnnxReexecutor(join(dir.path, "b-models"), {
    ...STRICT_SOURCE_POLICY,
    localDirs: [dir.path],
  });
  b = await startTestNode(join(dir.path, "b"), {
    reexecutor,
    config: {
      ...chainConfig,
      validatorKey: chain.validatorKeys[1],
      bootstrap: a.multiaddrs(),
      spotCheckFraction: 1,
    },
  });
  await waitFor(() => a.routingTableSize() > 0 && b.routingTableSize() > 0, 10_000, "nodes connected");
  await waitFor(
    () => a.gossip.subscribers("/ncn/records/1") > 0 && b.gossip.subscribers("/ncn/records/1") > 0,
  );
  writeFileSync(join(dir.path, "tiny.onnx"), tinyModelBytes());
  const catalog = [
    await subnetRecord(owner, {
      models: [
        { id: "tiny-mlp", price: "100" },
        { id: "tiny-real", price: "100" },
      ],
    }),
    await modelRecord(owner, model),
    await modelRecord(owner, realModel()),
  ];
  await claimNamesOf(chain, owner, catalog);
  for (const record of [
    ...catalog,
    await agentRecord(agent, { subnets: ["vision"], models: ["tiny-mlp"] }),
    await agentRecord(cheat, { subnets: ["vision"], models: ["tiny-real"] }),
  ]) {
    await a.records.publish(record);
  }
  await waitFor(() => b.index.get("agent", cheat.address.toLowerCase()), 5_000, "records on b");
  await waitFor(() => b.index.get("model", "tiny-real"), 5_000, "records on b");
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await reexecutor?.close();
  await chain?.stop();
  dir?.cleanup();
});

const realModel = () =>
  tinyModelDescriptor({ id: "tiny-real", sources: [`file:${join(dir.path, "tiny.onnx")}`] });
const domain = () => paymentDomain(chain.deployment.chainId, chain.contracts.payment);
const nowSec = () => BigInt(Math.floor(Date.now() / 1000));

/** POSTs as the gateway every node here serves. */
function post(node: RegistryNode, path: string, body: unknown) {
  return postAsGateway(gatewayAccount, `${node.url}${path}`, body);
}

function refusal(body: Record<string, unknown>) {
  return body.error as {
    code: string;
    message: string;
    details?: { reason?: string; field?: string; unattested?: number[] };
  };
}

function preprocess(
  requestId: string,
  payment: PreprocessRequest["payment"],
  price = "100",
): PreprocessRequest {
  return {
    requestId,
    subnet: "vision",
    model: "tiny-mlp",
    agent: agent.address.toLowerCase(),
    price,
    payment,
    deadline: Date.now() + 60_000,
  } as PreprocessRequest;
}

async function escrow(requestId: string, amount: bigint, expiry = nowSec() + 3600n, subnet = "vision") {
  await initiateEscrow(chain.client(clientKey), chain.contracts, {
    requestId: idToBytes32(requestId),
    subnetId: idToBytes32(subnet),
    gateway,
    amount,
    expiry,
  });
}

/**
 * Has `nodes` pre-attest a request for `who` (escrow-paid unless a payment is given), as a
 * gateway does before dispatch; returns the deadline its completion must carry.
 */
/** A language model priced per token: a base fee, 3 per prompt token, 7 per completion token. */
const PER_TOKEN = { price: "1000", pricing: { promptToken: "3", completionToken: "7" } };

async function preattest(
  nodes: RegistryNode[],
  requestId: string,
  o: {
    who?: ReturnType<typeof newAccount>;
    model?: string;
    subnet?: string;
    price?: string;
    payment?: PreprocessRequest["payment"];
  } = {},
): Promise<number> {
  const price = o.price ?? "100";
  if (!o.payment) await escrow(requestId, BigInt(price), undefined, o.subnet);
  const req = {
    ...preprocess(requestId, o.payment ?? ({ mode: "escrow" } as PreprocessRequest["payment"]), price),
    subnet: o.subnet ?? "vision",
    agent: (o.who ?? agent).address.toLowerCase(),
    model: o.model ?? "tiny-mlp",
  } as PreprocessRequest;
  for (const node of nodes) {
    const res = await post(node, "/v1/validate/preprocess", req);
    expect([requestId, res.status]).toEqual([requestId, 200]);
  }
  return req.deadline;
}

describe("preprocess against anvil", () => {
  test("a paid escrow gets an attestation the validator registry accepts", async () => {
    await escrow("pre-paid", 150n);
    const req = preprocess("pre-paid", { mode: "escrow" } as PreprocessRequest["payment"]);
    const res = await post(a, "/v1/validate/preprocess", req);
    expect(res.status).toBe(200);
    const { attestation, requestId } = v.parse(AttestationResponse, res.body);
    expect<string>(requestId).toBe(idToBytes32("pre-paid"));
    expect(attestation.phase).toBe(0);
    expect<string>(attestation.subject).toBe(preprocessSubject(req));
    const message = {
      requestId,
      phase: 0 as const,
      subject: attestation.subject,
      outputHash: attestation.outputHash,
    };
    const signer = await recoverTypedDataAddress({
      ...typedData(domain(), "Attestation", message),
      signature: attestation.signature,
    });
    expect<string | undefined>(signer.toLowerCase()).toBe(a.signer?.address);
    // The registry wants a majority of its two validators: b attests the same terms.
    const fromB = v.parse(AttestationResponse, (await post(b, "/v1/validate/preprocess", req)).body);
    const reader = createNcnReadClient({ rpcUrl: chain.anvil.url, chainId: chain.deployment.chainId });
    const digest = digestOf(domain(), "Attestation", message);
    const alone = await verifyAttestations(reader, chain.contracts, {
      digest,
      signatures: [attestation.signature],
    });
    expect(alone.ok).toBe(false);
    const onChain = await verifyAttestations(reader, chain.contracts, {
      digest,
      signatures: [attestation.signature, fromB.attestation.signature],
    });
    expect(onChain.ok).toBe(true);
  });

  test("unpaid, underpaid and unknown-session requests get typed refusals", async () => {
    const unpaid = await post(
      a,
      "/v1/validate/preprocess",
      preprocess("pre-unpaid", { mode: "escrow" } as never),
    );
    expect(unpaid.status).toBe(402);
    expect(refusal(unpaid.body).code).toBe("PAYMENT_REQUIRED");
    expect(refusal(unpaid.body).details?.reason).toBe("escrow_missing");

    await escrow("pre-under", 40n);
    const under = await post(
      a,
      "/v1/validate/preprocess",
      preprocess("pre-under", { mode: "escrow" } as never),
    );
    expect(under.status).toBe(402);
    expect(refusal(under.body).code).toBe("INSUFFICIENT_FUNDS");
    expect(refusal(under.body).details?.field).toBe("price");

    const noSession = await post(
      a,
      "/v1/validate/preprocess",
      preprocess("pre-nosession", {
        mode: "session",
        sessionId: `0x${"11".repeat(32)}`,
        cumulativeAmount: "100",
        signature: `0x${"22".repeat(65)}`,
      } as never),
    );
    expect(refusal(noSession.body).code).toBe("PAYMENT_REQUIRED");
    expect(refusal(noSession.body).details?.reason).toBe("session_unknown");
  });

  test("session vouchers: signed by the client and covered by the deposit, or refused", async () => {
    const client = chain.client(clientKey);
    const { sessionId } = await openSession(client, chain.contracts, {
      gateway,
      amount: 1_000n,
      expiry: nowSec() + 86_400n,
    });
    const voucher = async (amount: bigint, signer = client) => ({
      mode: "session" as const,
      sessionId,
      cumulativeAmount: amount.toString(),
      signature: await signVoucher(signer, domain(), { sessionId, cumulativeAmount: amount }),
    });
    const ok = await post(
      a,
      "/v1/validate/preprocess",
      preprocess("pre-session", (await voucher(100n)) as never),
    );
    expect(ok.status).toBe(200);

    const stranger = chain.client(devKey("stranger"));
    const forged = await post(
      a,
      "/v1/validate/preprocess",
      preprocess("pre-forged", (await voucher(100n, stranger)) as never),
    );
    expect(forged.status).toBe(401);
    expect(refusal(forged.body).code).toBe("SIGNATURE_INVALID");

    const over = await post(
      a,
      "/v1/validate/preprocess",
      preprocess("pre-over", (await voucher(5_000n)) as never),
    );
    expect(refusal(over.body).code).toBe("INSUFFICIENT_FUNDS");
    expect(refusal(over.body).details?.reason).toBe("voucher_exceeds_deposit");

    const short = await post(
      a,
      "/v1/validate/preprocess",
      preprocess("pre-short", (await voucher(60n)) as never),
    );
    expect(refusal(short.body).code).toBe("INSUFFICIENT_FUNDS");
    expect(refusal(short.body).details?.reason).toBe("voucher_underpaid");
  });

  test("unknown subnet, model or agent and a price below the subnet's are refused by name", async () => {
    await escrow("pre-terms", 500n);
    const base = preprocess("pre-terms", { mode: "escrow" } as never);
    const cases: [Partial<PreprocessRequest>, number, string][] = [
      [{ subnet: "nowhere" } as never, 404, "SUBNET_NOT_FOUND"],
      [{ model: "other-model" } as never, 404, "MODEL_NOT_FOUND"],
      [{ agent: newAccount().address.toLowerCase() } as never, 404, "NOT_FOUND"],
      [{ price: "10" }, 422, "VALIDATION_REFUSED"],
      // 25 times the subnet's price: the gateway may not name its own.
      [{ price: "2500" }, 422, "VALIDATION_REFUSED"],
      [{ deadline: Date.now() - 1 }, 422, "VALIDATION_REFUSED"],
    ];
    for (const [change, status, code] of cases) {
      const res = await post(a, "/v1/validate/preprocess", { ...base, ...change });
      expect([res.status, refusal(res.body).code]).toEqual([status, code]);
    }
  });
});

describe("completion against anvil", () => {
  const input = floatInput("tiny-mlp", [1, 2, 3, 4]);
  const result = floatResult([0.5, 0, 1.25]);

  test("a valid receipt gets the completion attestation that pays the escrow on chain", async () => {
    const deadline = await preattest([a, b], "done-1");
    const req = await signedCompletion(agent, domain(), {
      requestId: "done-1",
      modelHash: model.sha256,
      input,
      result,
      deadline,
    });
    const res = await post(a, "/v1/validate/completion", req);
    expect(res.status).toBe(200);
    const { attestation } = v.parse(AttestationResponse, res.body);
    const fromB = v.parse(AttestationResponse, (await post(b, "/v1/validate/completion", req)).body);
    expect(attestation.phase).toBe(1);
    expect<string>(attestation.subject).toBe(receiptStructHash(req.receipt.receipt));
    expect(attestation.outputHash).toBe(req.receipt.receipt.outputHash);
    // The attestation is what InferencePayment wants: the escrow is paid out with it.
    const receipt = receiptMessage(req.receipt.receipt);
    expect(completionAttestation(receipt).subject).toBe(attestation.subject);
    await completeEscrow(chain.client(gatewayKey), chain.contracts, {
      receipt,
      validatorSignatures: [attestation.signature, fromB.attestation.signature],
    });
    const reader = createNcnReadClient({ rpcUrl: chain.anvil.url, chainId: chain.deployment.chainId });
    expect((await readEscrow(reader, chain.contracts, idToBytes32("done-1"))).status).toBe(2);
    // The success counts for the agent here and, relayed by gossip, on the other node.
    const rep = (await (await fetch(`${a.url}/v1/reputation/${agent.address}`)).json()) as {
      successes: number;
    };
    expect(rep.successes).toBeGreaterThanOrEqual(1);
    await waitFor(() => b.reputation.get(agent.address).successes >= 1, 5_000, "reputation relayed to b");
  });

  test("a wrong receipt signature, a tampered output, a foreign model hash and a late finish are refused", async () => {
    const forged = await signedCompletion(agent, domain(), {
      requestId: "bad-sig",
      modelHash: model.sha256,
      input,
      result,
      signer: newAccount(),
      deadline: await preattest([a], "bad-sig"),
    });
    const r1 = await post(a, "/v1/validate/completion", forged);
    expect([r1.status, refusal(r1.body).code, refusal(r1.body).details?.field]).toEqual([
      401,
      "SIGNATURE_INVALID",
      "receipt.signature",
    ]);

    const honest = await signedCompletion(agent, domain(), {
      requestId: "tampered",
      modelHash: model.sha256,
      input,
      result,
      deadline: await preattest([a], "tampered"),
    });
    const tampered = { ...honest, result: floatResult([9, 9, 9]) };
    const r2 = await post(a, "/v1/validate/completion", tampered);
    expect([r2.status, refusal(r2.body).details?.reason]).toEqual([422, "output_hash_mismatch"]);

    const wrongInput = { ...honest, input: floatInput("tiny-mlp", [4, 3, 2, 1]) };
    const r3 = await post(a, "/v1/validate/completion", wrongInput);
    expect(refusal(r3.body).details?.reason).toBe("input_hash_mismatch");

    const otherModel = await signedCompletion(agent, domain(), {
      requestId: "other-hash",
      modelHash: `0x${"cd".repeat(32)}`,
      input,
      result,
      deadline: await preattest([a], "other-hash"),
    });
    const r4 = await post(a, "/v1/validate/completion", otherModel);
    expect([r4.status, refusal(r4.body).code]).toEqual([422, "MODEL_HASH_MISMATCH"]);

    const lateDeadline = await preattest([a], "late");
    const late = await signedCompletion(agent, domain(), {
      requestId: "late",
      modelHash: model.sha256,
      input,
      result,
      deadline: lateDeadline,
      startedAt: lateDeadline - 100,
      finishedAt: lateDeadline + 100,
    });
    const r5 = await post(a, "/v1/validate/completion", late);
    expect([r5.status, refusal(r5.body).code]).toEqual([422, "VALIDATION_REFUSED"]);
  });

  test("a batch is signed as one Merkle root; settlement is signed only over attested receipts and settles on chain", async () => {
    const client = chain.client(clientKey);
    const { sessionId, salt } = await openSession(client, chain.contracts, {
      gateway,
      amount: 1_000n,
      expiry: nowSec() + 86_400n,
    });
    const voucherAmount = 300n;
    const voucherSignature = await signVoucher(client, domain(), {
      sessionId,
      cumulativeAmount: voucherAmount,
    });
    const payment = {
      mode: "session",
      sessionId,
      cumulativeAmount: voucherAmount.toString(),
      signature: voucherSignature,
    } as PreprocessRequest["payment"];
    const items = [];
    for (const requestId of ["batch-1", "batch-2", "batch-3"]) {
      const deadline = await preattest([a, b], requestId, { payment });
      items.push(
        await signedCompletion(agent, domain(), {
          requestId,
          modelHash: model.sha256,
          input,
          result,
          deadline,
        }),
      );
    }
    const bad = await signedCompletion(agent, domain(), {
      requestId: "batch-bad",
      modelHash: model.sha256,
      input,
      result,
      signer: newAccount(),
      deadline: await preattest([a, b], "batch-bad", { payment }),
    });
    const res = await post(a, "/v1/validate/completion/batch", { items: [...items, bad] });
    expect(res.status).toBe(200);
    const batch = v.parse(BatchCompletionResponse, res.body);
    expect(batch.accepted).toEqual([0, 1, 2]);
    expect(batch.rejected.map((r) => r.code)).toEqual(["SIGNATURE_INVALID"]);
    const leaves = items.map((i) => receiptDigest(domain(), i.receipt.receipt));
    expect<string[]>([...batch.leaves].sort()).toEqual([...leaves].sort());
    const tree = merkleBatch(leaves);
    expect(tree.root.toLowerCase()).toBe(batch.receiptsRoot);
    expect(verifyMerkleProof(batch.receiptsRoot, leaves[1] as `0x${string}`, tree.proof(1))).toBe(true);
    const signer = await recoverTypedDataAddress({
      ...typedData(domain(), "Attestation", {
        requestId: batch.receiptsRoot,
        phase: 1,
        subject: batch.receiptsRoot,
        outputHash: `0x${"0".repeat(64)}`,
      }),
      signature: batch.attestation.signature,
    });
    expect<string | undefined>(signer.toLowerCase()).toBe(a.signer?.address);

    const batchId = `0x${"00".repeat(31)}07` as `0x${string}`;
    const settlement = {
      batchId,
      gateway,
      receiptsRoot: batch.receiptsRoot,
      receiptDigests: leaves,
      sessions: [{ sessionId, voucherAmount: voucherAmount.toString(), voucherSignature }],
      payouts: [{ node: agent.address.toLowerCase(), amount: "300" }],
    };
    // Node b never attested these receipts: it refuses to sign their settlement.
    const refused = await post(b, "/v1/validate/settlement", settlement);
    expect([refused.status, refusal(refused.body).details?.reason]).toEqual([422, "receipt_not_attested"]);
    // Every one it did not attest is named, not only the first.
    expect(refusal(refused.body).details?.unattested).toEqual(leaves.map((_, i) => i));
    const overpaid = await post(a, "/v1/validate/settlement", {
      ...settlement,
      payouts: [{ node: agent.address.toLowerCase(), amount: "400" }],
    });
    expect(refusal(overpaid.body).details?.reason).toBe("payout_mismatch");
    const signed = await post(a, "/v1/validate/settlement", settlement);
    expect(signed.status).toBe(200);
    const sig = v.parse(SettlementSignature, signed.body);
    expect(sig.total).toBe("300");
    // Once b attested them too, it signs: the registry wants a majority of its two validators.
    expect((await post(b, "/v1/validate/completion/batch", { items })).status).toBe(200);
    const signedByB = await post(b, "/v1/validate/settlement", settlement);
    expect(signedByB.status).toBe(200);
    const sigB = v.parse(SettlementSignature, signedByB.body);
    const { total } = await settleBatch(chain.client(gatewayKey), chain.contracts, {
      batch: {
        batchId,
        gateway,
        receiptsRoot: batch.receiptsRoot,
        vouchers: [{ sessionId, salt, cumulativeAmount: voucherAmount, signature: voucherSignature }],
        payouts: [{ node: agent.address, amount: 300n }],
      },
      validatorSignatures: [sig.signature, sigB.signature],
    });
    expect(total).toBe(300n);
    const again = await post(a, "/v1/validate/settlement", settlement);
    expect(refusal(again.body).details?.reason).toBe("batch_already_settled");
  });

  test("a spot-checked wrong output is caught and costs the agent its eligibility", async () => {
    const x = [0.5, -1, 2, 0.25, 1, 1, 1, 1];
    const honest = await signedCompletion(cheat, domain(), {
      requestId: "spot-honest",
      deadline: await preattest([b], "spot-honest", { who: cheat, model: "tiny-real" }),
      model: "tiny-real",
      modelHash: realModel().sha256,
      input: floatInput("tiny-real", x),
      // Computed in plain JS: equal to onnxruntime's only within float tolerance.
      result: floatResult(tinyModelReference(new Float32Array(x))),
    });
    const ok = await post(b, "/v1/validate/completion", honest);
    expect(ok.status).toBe(200);
    expect(v.parse(AttestationResponse, ok.body).spotChecked).toBe(true);
    const before = b.reputation.get(cheat.address);
    expect(before.successes).toBe(1);

    const wrong = Array.from(tinyModelReference(new Float32Array(x)), (y, i) => (i === 4 ? y + 0.5 : y));
    const lie = await signedCompletion(cheat, domain(), {
      requestId: "spot-lie",
      deadline: await preattest([b], "spot-lie", { who: cheat, model: "tiny-real" }),
      model: "tiny-real",
      modelHash: realModel().sha256,
      input: floatInput("tiny-real", x),
      result: floatResult(wrong),
    });
    const caught = await post(b, "/v1/validate/completion", lie);
    expect([caught.status, refusal(caught.body).details?.reason]).toEqual([422, "spot_check_failed"]);
    const after = b.reputation.get(cheat.address);
    expect(after.failedSpotChecks).toBe(1);
    expect(after.score).toBe(before.score - 20);
    const health = (await (await fetch(`${b.url}/health`)).json()) as {
      validation: { spotChecksPassed: number; spotChecksFailed: number };
    };
    expect(health.validation.spotChecksFailed).toBe(1);
    expect(health.validation.spotChecksPassed).toBeGreaterThanOrEqual(1);
    // The offence, signed by b, reaches a; the agent is no longer eligible for new work.
    // Gossip between two nodes: well under a second when idle, seconds on a loaded machine.
    await waitFor(
      () => a.reputation.get(cheat.address).failedSpotChecks === 1,
      20_000,
      "offence relayed to a",
    );
    await escrow("after-cheat", 100n);
    const next = await post(a, "/v1/validate/preprocess", {
      ...preprocess("after-cheat", { mode: "escrow" } as never),
      agent: cheat.address.toLowerCase(),
      model: "tiny-real",
    });
    expect([next.status, refusal(next.body).details?.reason]).toEqual([422, "agent_reputation"]);
  });

  test("OCR results are spot-checked too: a page read again agrees, a changed line is caught", async () => {
    const reader = newAccount();
    const catalog = [
      ...(await Promise.all(BUILTIN_MODELS.map((m) => modelRecord(owner, m)))),
      await subnetRecord(owner, { id: "ocr", models: [{ id: "ppocr-v4", price: "1000" }] }),
    ];
    await claimNamesOf(chain, owner, catalog);
    for (const record of [
      ...catalog,
      await agentRecord(reader, { subnets: ["ocr"], models: ["ppocr-v4"] }),
    ]) {
      await a.records.publish(record);
    }
    await waitFor(() => b.index.get("agent", reader.address.toLowerCase()), 5_000, "OCR records on b");
    // The page as an agent reads it, with the agent's own executor.
    const store = await ModelStore.open({
      dir: join(dir.path, "agent-models"),
      maxBytes: 2 ** 30,
      ttlMs: 3_600_000,
    });
    const runtime = await OnnxRuntime.create({ executionProvider: "cpu", poolSize: 1 });
    try {
      const image = Buffer.from(renderText({ lines: ["spot check"], size: 32 })).toString("base64");
      const { model: pipelineModel, pipeline } = ppocrV4Task();
      const outcome = await new TaskExecutor({ store, runtime }).execute({
        kind: "ocr",
        model: pipelineModel,
        image,
        pipeline,
      });
      const ocrInput = v.parse(TaskInput, { kind: "ocr", model: "ppocr-v4", image });
      const complete = async (requestId: string, result: TaskResult) =>
        signedCompletion(reader, domain(), {
          requestId,
          subnet: "ocr",
          model: "ppocr-v4",
          modelHash: pipelineModel.sha256,
          price: "1000",
          input: ocrInput,
          result,
          deadline: await preattest([b], requestId, {
            who: reader,
            model: "ppocr-v4",
            subnet: "ocr",
            price: "1000",
          }),
        });
      const before = b.validation.stats.spotChecksPassed;
      const ok = await post(b, "/v1/validate/completion", await complete("ocr-honest", outcome.result));
      expect(ok.status).toBe(200);
      expect(v.parse(AttestationResponse, ok.body).spotChecked).toBe(true);
      expect(b.validation.stats.spotChecksPassed).toBe(before + 1);
      if (outcome.result.kind !== "ocr") throw new Error("expected OCR lines");
      const lines = outcome.result.lines.map((l, i) => (i === 0 ? { ...l, text: `${l.text}!` } : l));
      const lie = await post(b, "/v1/validate/completion", await complete("ocr-lie", { kind: "ocr", lines }));
      expect([lie.status, refusal(lie.body).details?.reason, refusal(lie.body).details?.field]).toEqual([
        422,
        "spot_check_failed",
        "result.lines",
      ]);
      expect(b.reputation.get(reader.address).failedSpotChecks).toBe(1);
    } finally {
      await runtime.close();
    }
  }, 60_000);

  test("generate and embed results are spot-checked too: honest ones pass, a swapped token or vector is caught, a result of another kind refused; priced per token, a receipt must bind its usage's charge and prompt_tokens the tokenizer's count", async () => {
    const writer = newAccount();
    const embedder = newAccount();
    const pricer = newAccount();
    const catalog = [
      await modelRecord(owner, NCN_GPT),
      ...(await Promise.all(
        [NCN_GLOVE, NCN_GLOVE_ENCODER, NCN_GLOVE_TOKENIZER].map((m) => modelRecord(owner, m)),
      )),
      await subnetRecord(owner, {
        id: "text",
        models: [
          { id: "ncn-gpt", price: "1000" },
          { id: "ncn-glove-100d", price: "1000" },
        ],
      }),
      await subnetRecord(owner, { id: "text-tokens", models: [{ id: "ncn-gpt", ...PER_TOKEN }] }),
    ];
    await claimNamesOf(chain, owner, catalog);
    for (const record of [
      ...catalog,
      await agentRecord(writer, { subnets: ["text"], models: ["ncn-gpt"] }),
      await agentRecord(pricer, { subnets: ["text-tokens"], models: ["ncn-gpt"] }),
      await agentRecord(embedder, { subnets: ["text"], models: ["ncn-glove-100d"] }),
    ]) {
      await a.records.publish(record);
    }
    await waitFor(() => b.index.get("agent", pricer.address.toLowerCase()), 5_000, "text records on b");
    const store = await ModelStore.open({
      dir: join(dir.path, "text-agent"),
      maxBytes: 2 ** 30,
      ttlMs: 3_600_000,
    });
    const runtime = await OnnxRuntime.create({ executionProvider: "cpu", poolSize: 1 });
    try {
      const executor = new TaskExecutor({ store, runtime });
      const prompt = "It is a truth universally acknowledged";
      const sampling = { max_tokens: 24, temperature: 0.9, top_p: 0.95, seed: 3, stop: [] };
      const texts = ["a cat sat on the mat", "the stock market fell sharply today"];
      const generated = (await executor.execute({ kind: "generate", model: NCN_GPT, prompt, sampling }))
        .result;
      const embedded = (await executor.execute({ kind: "embed", model: NCN_GLOVE, texts, pipeline: [] }))
        .result;
      if (generated.kind !== "generate" || embedded.kind !== "embed")
        throw new Error("expected tokens and vectors");
      const complete = async (requestId: string, who: typeof writer, input: TaskInput, result: TaskResult) =>
        signedCompletion(who, domain(), {
          requestId,
          subnet: "text",
          model: input.model,
          modelHash: input.model === "ncn-gpt" ? NCN_GPT.sha256 : NCN_GLOVE.sha256,
          price: "1000",
          input,
          result,
          deadline: await preattest([b], requestId, {
            who,
            model: input.model,
            subnet: "text",
            price: "1000",
          }),
        });
      const generateInput = v.parse(TaskInput, { kind: "generate", model: "ncn-gpt", prompt, sampling });
      const embedInput = v.parse(TaskInput, { kind: "embed", model: "ncn-glove-100d", texts });
      const before = b.validation.stats.spotChecksPassed;
      for (const [id, who, input, result] of [
        ["gen-honest", writer, generateInput, generated],
        ["emb-honest", embedder, embedInput, embedded],
      ] as const) {
        const ok = await post(b, "/v1/validate/completion", await complete(id, who, input, result));
        expect([id, ok.status]).toEqual([id, 200]);
        expect(v.parse(AttestationResponse, ok.body).spotChecked).toBe(true);
      }
      expect(b.validation.stats.spotChecksPassed).toBe(before + 2);

      // Vectors for a generate task: refused before any re-execution, and no offence.
      const crossed = await post(
        b,
        "/v1/validate/completion",
        await complete("gen-crossed", writer, generateInput, embedded),
      );
      expect([
        crossed.status,
        refusal(crossed.body).details?.reason,
        refusal(crossed.body).details?.field,
      ]).toEqual([422, "result_kind_mismatch", "result.kind"]);
      expect(b.reputation.get(writer.address).failedSpotChecks).toBe(0);

      const lm = await new CausalLmRuntime({ onnx: runtime, loadModel: (m) => store.load(m) }).loadModel(
        NCN_GPT,
        {
          fetchModel: async (m) => void (await store.ensure(m)),
        },
      );
      const tokens = [...generated.tokens];
      tokens[4] = await implausibleNext(lm, [...lm.tokenizer.encodePrompt(prompt), ...tokens.slice(0, 4)]);
      const swapped = { ...generated, tokens, text: lm.tokenizer.decode(tokens) };
      const embeddings = [embedded.embeddings[1] ?? "", embedded.embeddings[1] ?? ""];
      for (const [id, who, input, result, field] of [
        ["gen-swapped", writer, generateInput, swapped, "result.tokens"],
        ["emb-swapped", embedder, embedInput, { ...embedded, embeddings }, "result.embeddings"],
      ] as const) {
        const lie = await post(b, "/v1/validate/completion", await complete(id, who, input, result));
        expect([id, lie.status, refusal(lie.body).details?.reason, refusal(lie.body).details?.field]).toEqual(
          [id, 422, "spot_check_failed", field],
        );
        expect(b.reputation.get(who.address).failedSpotChecks).toBe(1);
      }

      // Priced per token: the receipt binds base + usage x prices, and the pre-attested price
      // is the input's maximum; an inflated prompt_tokens is caught by the tokenizer's count.
      const maximum = requestMaximum(PER_TOKEN, generateInput).toString();
      const charge = requestCharge(PER_TOKEN, generateInput, generated).toString();
      expect(BigInt(charge)).toBeLessThan(BigInt(maximum));
      const inflated = { ...generated, prompt_tokens: generated.prompt_tokens + 5 };
      const priced = async (
        requestId: string,
        result: TaskResult,
        o: { price?: string; receiptPrice?: string } = {},
      ) =>
        signedCompletion(pricer, domain(), {
          requestId,
          subnet: "text-tokens",
          model: "ncn-gpt",
          modelHash: NCN_GPT.sha256,
          price: o.price ?? maximum,
          receiptPrice: o.receiptPrice ?? charge,
          input: generateInput,
          result,
          deadline: await preattest([b], requestId, {
            who: pricer,
            model: "ncn-gpt",
            subnet: "text-tokens",
            price: o.price ?? maximum,
          }),
        });
      const paid = await post(b, "/v1/validate/completion", await priced("tok-honest", generated));
      expect(paid.status).toBe(200);
      const cases = [
        ["tok-at-maximum", generated, { receiptPrice: maximum }, "price_mismatch"],
        ["tok-wider", generated, { price: (BigInt(maximum) + 1n).toString() }, "price_not_subnet_price"],
        [
          "tok-inflated",
          inflated,
          { receiptPrice: requestCharge(PER_TOKEN, generateInput, inflated).toString() },
          "prompt_tokens_mismatch",
        ],
      ] as const;
      for (const [id, result, o, reason] of cases) {
        const lie = await post(b, "/v1/validate/completion", await priced(id, result, o));
        expect([id, lie.status, refusal(lie.body).details?.reason]).toEqual([id, 422, reason]);
      }
    } finally {
      await runtime.close();
    }
  }, 90_000);

  test("work posted to one node's mempool is attested by every validator and collected from any node", async () => {
    await escrow("pool-paid", 100n);
    const posted = await post(a, "/v1/mempool", {
      phase: 0,
      request: preprocess("pool-paid", { mode: "escrow" } as never),
    });
    expect(posted.status).toBe(202);
    const id = posted.body.id as string;
    const requestId = idToBytes32("pool-paid");
    const collected = await waitFor(
      async () => {
        const res = (await (await fetch(`${b.url}/v1/attestations/pool-paid`)).json()) as {
          attestations: { validator: string; signature: `0x${string}`; subject: `0x${string}` }[];
        };
        return res.attestations.length === 2 ? res.attestations : undefined;
      },
      10_000,
      "two attestations on b",
    );
    const signers = await Promise.all(
      collected.map((att) =>
        recoverTypedDataAddress({
          ...typedData(domain(), "Attestation", {
            requestId,
            phase: 0,
            subject: att.subject,
            outputHash: `0x${"0".repeat(64)}`,
          }),
          signature: att.signature,
        }),
      ),
    );
    expect<(string | undefined)[]>(signers.map((s) => s.toLowerCase()).sort()).toEqual(
      [a.signer?.address, b.signer?.address].sort(),
    );
    await waitFor(() => a.attestations.list(requestId).length === 2, 5_000, "two attestations on a");
    expect(a.mempool.get(id)?.status).toBe("attested");

    const unpaid = await post(a, "/v1/mempool", {
      phase: 0,
      request: preprocess("pool-unpaid", { mode: "escrow" } as never),
    });
    const unpaidId = unpaid.body.id as string;
    await waitFor(() => b.mempool.get(unpaidId)?.status === "refused", 5_000, "refused on b");
    expect(b.mempool.get(unpaidId)?.refusal?.code).toBe("PAYMENT_REQUIRED");
    expect(a.attestations.list(idToBytes32("pool-unpaid"))).toEqual([]);
  });

  test("an escrow that expired is refused", async () => {
    await escrow("pre-expiring", 100n, nowSec() + 30n);
    await chain.advanceTime(120);
    const res = await post(
      a,
      "/v1/validate/preprocess",
      preprocess("pre-expiring", { mode: "escrow" } as never),
    );
    expect([res.status, refusal(res.body).code]).toEqual([402, "PAYMENT_EXPIRED"]);
  });
});
