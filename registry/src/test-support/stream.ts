import type { Database } from "bun:sqlite";
import {
  merkleBatch,
  type NcnDomain,
  ncnDomain,
  receiptDigest,
  StreamBatchRequest,
  type TaskInput,
  type TaskResult,
  typedData,
} from "@ncn/protocol";
import * as v from "valibot";
import { keccak256, stringToHex } from "viem";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import type { PaymentReader, SessionState } from "../chain/payment-reader.ts";
import { RecordIndex } from "../records/record-index.ts";
import type { Reexecutor } from "../reexec/reexecutor.ts";
import { ReputationBook } from "../reputation/reputation-book.ts";
import { AttestationStore } from "../store/attestation-store.ts";
import { CompletionStore } from "../store/completion-store.ts";
import { openDatabase } from "../store/database.ts";
import { PreattestationStore } from "../store/preattestation-store.ts";
import { ReceiptStore } from "../store/receipt-store.ts";
import { type AttestationSigner, attestationSigner } from "../validation/attestation-signer.ts";
import { SignerCache } from "../validation/signer-cache.ts";
import type { SpotCheckPolicy } from "../validation/spot-check.ts";
import type { StreamDeps } from "../validation/stream.ts";
import { completionReceipt } from "./completions.ts";
import { agentRecord, fakeModel, modelRecord, newAccount, subnetRecord } from "./records.ts";

/** A payment contract held in memory: sessions by id, chain time set by the test. */
export interface MemoryPaymentReader extends PaymentReader {
  readonly sessions: Map<string, SessionState>;
  /** `${gateway}:${batchId}` of batches settled, and of batches abandoned, on chain. */
  readonly settledBatches: Set<string>;
  readonly abandonedBatches: Set<string>;
  /** Unix seconds returned by `now()`. */
  chainNow: bigint;
  /** How many reads were made (sessions, escrows, batches, time). */
  reads: number;
}

export function memoryPaymentReader(domain: NcnDomain): MemoryPaymentReader {
  const reader: MemoryPaymentReader = {
    domain,
    sessions: new Map(),
    settledBatches: new Set(),
    abandonedBatches: new Set(),
    chainNow: BigInt(Math.floor(Date.now() / 1000)),
    reads: 0,
    async escrow() {
      reader.reads++;
      return null;
    },
    async session(sessionId) {
      reader.reads++;
      return reader.sessions.get(sessionId.toLowerCase()) ?? null;
    },
    async batchSettled(gateway, batchId) {
      reader.reads++;
      const key = `${gateway.toLowerCase()}:${batchId.toLowerCase()}`;
      // As the contract answers: an abandoned id is spent too.
      return reader.settledBatches.has(key) || reader.abandonedBatches.has(key);
    },
    async batchAbandoned(gateway, batchId) {
      reader.reads++;
      return reader.abandonedBatches.has(`${gateway.toLowerCase()}:${batchId.toLowerCase()}`);
    },
    async now() {
      reader.reads++;
      return reader.chainNow;
    },
  };
  return reader;
}

/** The client's EIP-712 `Voucher` over a session's cumulative amount. */
export function signVoucher(
  client: PrivateKeyAccount,
  domain: NcnDomain,
  sessionId: `0x${string}`,
  amount: bigint,
): Promise<`0x${string}`> {
  return client.signTypedData(typedData(domain, "Voucher", { sessionId, cumulativeAmount: amount }));
}

export interface StreamFixture {
  domain: NcnDomain;
  db: Database;
  index: RecordIndex;
  reputation: ReputationBook;
  attestations: AttestationStore;
  receipts: ReceiptStore;
  completions: CompletionStore;
  signer: AttestationSigner;
  payments: MemoryPaymentReader;
  deps: StreamDeps;
  client: PrivateKeyAccount;
  gateway: `0x${string}`;
  sessionId: `0x${string}`;
  /** The model every agent serves (registered, priced 100 in subnet "vision"). */
  modelHash: `0x${string}`;
  close(): void;
}

export interface StreamFixtureOptions {
  /** Agents registered and alive in "vision", serving "tiny-mlp". */
  agents: PrivateKeyAccount[];
  deposit?: bigint;
  spotCheck?: SpotCheckPolicy;
  reexecutor?: Reexecutor;
  /** SQLite file (as a node keeps it); in memory by default. */
  dbPath?: string;
  /** Reuse of chain reads between calls; 0 (read every time) unless a test is about the reuse. */
  chainViewMs?: number;
}

/**
 * A validator's stream dependencies in memory, as a node wires them: SQLite stores, a record
 * index holding subnet "vision" (tiny-mlp at 100), the model and the agents, a real
 * attestation key, and an in-memory payment contract with one open session of `client`.
 */
export async function streamFixture(options: StreamFixtureOptions): Promise<StreamFixture> {
  const domain = ncnDomain(31337, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
  const db = openDatabase(options.dbPath ?? ":memory:");
  const index = new RecordIndex(db);
  const reputation = new ReputationBook(db);
  const attestations = new AttestationStore(db);
  const receipts = new ReceiptStore(db);
  const completions = new CompletionStore(db);
  const signer = attestationSigner(generatePrivateKey());
  const payments = memoryPaymentReader(domain);
  const owner = newAccount();
  const model = fakeModel("tiny-mlp");
  index.upsert(await subnetRecord(owner, { models: [{ id: "tiny-mlp", price: "100" }] }));
  index.upsert(await modelRecord(owner, model));
  for (const agent of options.agents) {
    index.upsert(await agentRecord(agent, { subnets: ["vision"], models: ["tiny-mlp"] }));
  }
  const client = privateKeyToAccount(generatePrivateKey());
  const gateway = newAccount().address.toLowerCase() as `0x${string}`;
  const sessionId = keccak256(stringToHex(`session:${client.address}`));
  payments.sessions.set(sessionId, {
    client: client.address.toLowerCase() as `0x${string}`,
    gateway,
    deposit: options.deposit ?? 10n ** 18n,
    settled: 0n,
    expiry: payments.chainNow + 86_400n,
    closed: false,
  });
  const deps: StreamDeps = {
    index,
    domain,
    signer,
    attestations,
    receipts,
    completions,
    preattested: new PreattestationStore(db),
    reexecutor: options.reexecutor,
    spotCheck: options.spotCheck ?? { fraction: 0, atol: 1e-4, rtol: 1e-3 },
    onReputationEvent: (e) => reputation.apply(e, signer.address),
    onLocalSuccesses: (events) => reputation.applyLocal(events),
    transaction: (run) => db.transaction(run)(),
    reputation,
    payments,
    signers: new SignerCache(),
    chainViewMs: options.chainViewMs ?? 0,
  };
  return {
    domain,
    db,
    index,
    reputation,
    attestations,
    receipts,
    completions,
    signer,
    payments,
    deps,
    client,
    gateway,
    sessionId,
    modelHash: model.sha256,
    close: () => db.close(),
  };
}

/** One request an agent ran, as a stream batch carries it. */
export interface StreamTask {
  requestId: string;
  input: TaskInput;
  result: TaskResult;
  price?: string;
  deadline?: number;
}

export interface AgentGroup {
  agent: PrivateKeyAccount;
  tasks: StreamTask[];
  /** Signs the agent batch with this account instead (a forged batch). */
  signer?: PrivateKeyAccount;
}

export interface StreamBuild {
  sessionId: `0x${string}`;
  client: PrivateKeyAccount;
  /** Voucher amount; by default `chargedBefore` plus every task's price. */
  amount?: bigint;
  chargedBefore?: bigint;
  /** Signs the voucher with this account instead of the client. */
  voucherSigner?: PrivateKeyAccount;
  modelHash: `0x${string}`;
  subnet?: string;
}

/**
 * A stream validation request as a gateway builds it: per agent, the receipts of its tasks
 * under one signed `ReceiptBatch` (Merkle root of their digests) and each item's proof; the
 * client's voucher covering what was charged before plus the batch.
 */
export async function streamRequest(
  domain: NcnDomain,
  groups: AgentGroup[],
  build: StreamBuild,
): Promise<StreamBatchRequest> {
  const now = Date.now();
  const agentBatches: unknown[] = [];
  const items: unknown[] = [];
  let total = 0n;
  for (const [g, group] of groups.entries()) {
    const receipts = group.tasks.map((t) =>
      completionReceipt(
        group.agent.address,
        {
          requestId: t.requestId,
          modelHash: build.modelHash,
          input: t.input,
          result: t.result,
          ...(t.price === undefined ? {} : { price: t.price }),
          ...(build.subnet === undefined ? {} : { subnet: build.subnet }),
        },
        now,
      ),
    );
    const tree = merkleBatch(receipts.map((r) => receiptDigest(domain, r)));
    const agent = group.agent.address.toLowerCase() as `0x${string}`;
    const message = { agent, receiptsRoot: tree.root, count: receipts.length };
    const signature = await (group.signer ?? group.agent).signTypedData(
      typedData(domain, "ReceiptBatch", message),
    );
    agentBatches.push({ ...message, signature });
    for (const [i, t] of group.tasks.entries()) {
      const price = t.price ?? "100";
      total += BigInt(price);
      items.push({
        requestId: t.requestId,
        agentBatch: g,
        proof: tree.proof(i),
        price,
        deadline: t.deadline ?? now + 60_000,
        input: t.input,
        result: t.result,
        receipt: receipts[i],
      });
    }
  }
  const chargedBefore = build.chargedBefore ?? 0n;
  const amount = build.amount ?? chargedBefore + total;
  return v.parse(StreamBatchRequest, {
    subnet: build.subnet ?? "vision",
    session: {
      sessionId: build.sessionId,
      cumulativeAmount: amount.toString(),
      signature: await signVoucher(build.voucherSigner ?? build.client, domain, build.sessionId, amount),
    },
    chargedBefore: chargedBefore.toString(),
    agentBatches,
    items,
  });
}
