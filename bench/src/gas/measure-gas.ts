import {
  approveTokens,
  batchIdOf,
  completeEscrow,
  completionAttestation,
  devKey,
  initiateEscrow,
  type LocalChain,
  mintTokens,
  openSession,
  paymentDomain,
  type SettlementBatchInput,
  settleBatch,
  settlementBatchMessage,
  signAttestation,
  signSettlementBatch,
  signVoucher,
  startLocalChain,
} from "@ncn/contracts";
import { idToBytes32, merkleBatch, type ReceiptMessage } from "@ncn/protocol";
import { type Address, type Hex, keccak256, maxUint256, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";

const WAD = 10n ** 18n;
const PRICE = WAD / 100n;

/** One settlement shape: `requests` receipts paid from `sessions` sessions to `nodes` compute nodes. */
export interface BatchShape {
  requests: number;
  sessions: number;
  nodes: number;
}

/** A handful of sessions and nodes per batch: one of each per 20 requests. */
export function defaultShape(requests: number): BatchShape {
  const k = Math.max(1, Math.ceil(requests / 20));
  return { requests, sessions: k, nodes: k };
}

export interface BatchGas extends BatchShape {
  /** gasUsed of the settleBatch transaction (intrinsic and calldata included). */
  gas: bigint;
  gasPerRequest: number;
  /** Same batch when nodes, gateway and the batch-id word had never been written. */
  coldGas: bigint;
}

export interface EscrowGas {
  initiate: bigint;
  initiateWithPermit: bigint;
  complete: bigint;
  /** initiate + complete: the escrow cost of one request. */
  perRequest: bigint;
}

export interface GasReport {
  escrow: EscrowGas;
  batches: BatchGas[];
  openSession: bigint;
}

const addr = (key: Hex): Address => privateKeyToAccount(key).address;

/**
 * Measures gas on a real anvil: per-request escrow (initiate + complete) and settleBatch for each
 * shape, in steady state (accounts already credited once, sequential batch ids) and cold.
 */
export async function measureGas(shapes: readonly BatchShape[]): Promise<GasReport> {
  const chain = await startLocalChain();
  try {
    const escrow = await measureEscrow(chain);
    const batches: BatchGas[] = [];
    let openGas = 0n;
    for (const [i, shape] of shapes.entries()) {
      const m = await measureBatch(chain, shape, `shape-${i}`);
      batches.push(m.batch);
      openGas = m.openSession;
    }
    return { escrow, batches, openSession: openGas };
  } finally {
    await chain.stop();
  }
}

async function fund(chain: LocalChain, key: Hex, tokens: bigint): Promise<void> {
  await chain.fundEther(addr(key));
  if (tokens > 0n)
    await mintTokens(chain.client(chain.deployerKey), chain.contracts, { to: addr(key), amount: tokens });
}

function receipt(label: string, i: number, agent: Address): ReceiptMessage {
  const w = (k: string) => keccak256(toHex(`${label}:${k}:${i}`));
  return {
    requestId: idToBytes32(`${label}-${i}`),
    subnetId: idToBytes32("bench"),
    modelId: idToBytes32("bench-model"),
    modelHash: w("model"),
    inputHash: w("in"),
    outputHash: w("out"),
    agent,
    price: PRICE,
    startedAt: BigInt(1_700_000_000_000 + i),
    finishedAt: BigInt(1_700_000_000_100 + i),
  };
}

async function measureEscrow(chain: LocalChain): Promise<EscrowGas> {
  const clientKey = devKey("gas-escrow-client");
  const gatewayKey = devKey("gas-escrow-gateway");
  const agent = addr(devKey("gas-escrow-agent"));
  await fund(chain, clientKey, 100n * WAD);
  await fund(chain, gatewayKey, 0n);
  const client = chain.client(clientKey);
  const gateway = chain.client(gatewayKey);
  const domain = paymentDomain(chain.deployment.chainId, chain.contracts.payment);
  const now = (await client.getBlock()).timestamp;
  await approveTokens(client, chain.contracts, { spender: chain.contracts.payment, amount: maxUint256 });

  const run = async (i: number, approval: "none" | "permit") => {
    const r = receipt("escrow", i, agent);
    const init = await initiateEscrow(client, chain.contracts, {
      requestId: r.requestId,
      subnetId: r.subnetId,
      gateway: addr(gatewayKey),
      amount: PRICE,
      expiry: now + 3_600n,
      approval,
    });
    const attestation = completionAttestation(r);
    const signatures = await Promise.all(
      chain.validatorKeys.slice(0, 3).map((k) => signAttestation(chain.client(k), domain, attestation)),
    );
    const done = await completeEscrow(gateway, chain.contracts, {
      receipt: r,
      validatorSignatures: signatures,
    });
    return { initiate: init.gasUsed, complete: done.gasUsed };
  };
  await run(0, "none");
  // Second request: the agent and gateway already hold credit, as in steady operation.
  const steady = await run(1, "none");
  const permit = await run(2, "permit");
  return {
    initiate: steady.initiate,
    initiateWithPermit: permit.initiate,
    complete: steady.complete,
    perRequest: steady.initiate + steady.complete,
  };
}

async function measureBatch(
  chain: LocalChain,
  shape: BatchShape,
  label: string,
): Promise<{ batch: BatchGas; openSession: bigint }> {
  const gatewayKey = devKey(`${label}-gateway`);
  await fund(chain, gatewayKey, 0n);
  const gatewayAddress = addr(gatewayKey);
  const gateway = chain.client(gatewayKey);
  const domain = paymentDomain(chain.deployment.chainId, chain.contracts.payment);
  const now = (await gateway.getBlock()).timestamp;
  const nodes = Array.from({ length: shape.nodes }, (_, i) => addr(devKey(`${label}-node-${i}`)));
  const perSession = Math.ceil(shape.requests / shape.sessions);
  const deposit = PRICE * BigInt(perSession * 3);

  const sessions: { key: Hex; sessionId: Hex; salt: Hex }[] = [];
  let openGas = 0n;
  for (let s = 0; s < shape.sessions; s++) {
    const key = devKey(`${label}-client-${s}`);
    await fund(chain, key, deposit);
    const opened = await openSession(chain.client(key), chain.contracts, {
      gateway: gatewayAddress,
      amount: deposit,
      expiry: now + 86_400n,
    });
    openGas = opened.receipt.gasUsed;
    sessions.push({ key, sessionId: opened.sessionId, salt: opened.salt });
  }

  // Requests are dealt round-robin to sessions and nodes.
  const settled = new Map<Hex, bigint>();
  let batchCounter = 0;
  const settle = async (requests: number) => {
    const spent = new Map<Hex, bigint>();
    const earned = new Map<Address, bigint>();
    const digests: Hex[] = [];
    for (let i = 0; i < requests; i++) {
      const s = sessions[i % sessions.length];
      const node = nodes[i % nodes.length];
      if (!s || !node) throw new Error("shape without sessions or nodes");
      spent.set(s.sessionId, (spent.get(s.sessionId) ?? 0n) + PRICE);
      earned.set(node, (earned.get(node) ?? 0n) + PRICE);
      digests.push(keccak256(toHex(`${label}:${batchCounter}:${i}`)));
    }
    const vouchers = await Promise.all(
      sessions
        .filter((s) => spent.has(s.sessionId))
        .map(async (s) => {
          const cumulativeAmount = (settled.get(s.sessionId) ?? 0n) + (spent.get(s.sessionId) ?? 0n);
          settled.set(s.sessionId, cumulativeAmount);
          const signature = await signVoucher(chain.client(s.key), domain, {
            sessionId: s.sessionId,
            cumulativeAmount,
          });
          return { sessionId: s.sessionId, salt: s.salt, cumulativeAmount, signature };
        }),
    );
    const batch: SettlementBatchInput = {
      batchId: batchIdOf(++batchCounter),
      gateway: gatewayAddress,
      receiptsRoot: merkleBatch(digests).root,
      vouchers,
      payouts: [...earned].map(([node, amount]) => ({ node, amount })),
    };
    const message = settlementBatchMessage(batch);
    const validatorSignatures = await Promise.all(
      chain.validatorKeys.slice(0, 3).map((k) => signSettlementBatch(chain.client(k), domain, message)),
    );
    const result = await settleBatch(gateway, chain.contracts, { batch, validatorSignatures });
    return result.receipt.gasUsed;
  };

  // Cold: nobody of this shape holds credit yet and the batch-id word is fresh.
  const coldGas = await settle(shape.requests);
  // Steady state: same sessions, nodes and gateway, next batch id.
  const gas = await settle(shape.requests);
  return {
    batch: { ...shape, gas, gasPerRequest: Number(gas) / shape.requests, coldGas },
    openSession: openGas,
  };
}
