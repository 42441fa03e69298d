import {
  closeSession,
  createNcnReadClient,
  creditOf,
  inferencePaymentAbi,
  readFeePools,
  readSession,
  tokenBalance,
} from "@ncn/contracts";
import { BaseError, type InferenceResponse, ncnDomain, type Tensor } from "@ncn/protocol";
import {
  chainValidatorSet,
  NcnClient,
  type NcnStream,
  openPaymentSession,
  verifyStreamResult,
} from "@ncn/sdk";
import type { Address } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { readContract } from "viem/actions";
import { type KillKind, type PlannedKill, planKills } from "./chaos-plan.ts";
import {
  type ChainBalance,
  type ChaosReport,
  type KillRecord,
  type LoadKind,
  type RequestRecord,
  runOk,
  tallyRequests,
} from "./chaos-report.ts";
import type { Devnet } from "./devnet.ts";
import { waitForSettlement } from "./reconcile.ts";

export interface ChaosOptions {
  /** Requests to send, per-request API and stream together (more if kills are still under way). */
  requests: number;
  kills: number;
  seed: number;
  /** Concurrent callers of the per-request API (default 4, over two sessions). */
  apiWorkers?: number;
  /** Stream requests in flight at once (default 8). */
  streamBatch?: number;
  /** Shortest and longest time a target stays down. */
  downMs?: readonly [number, number];
  /** Longest wait for settlement after the load (default 90 s). */
  settleTimeoutMs?: number;
  /** The load stops here even if kills are pending (default 15 minutes). */
  maxLoadMs?: number;
  /** Progress lines. */
  onEvent?: (line: string) => void;
}

const SUBNET = "default";
const MODEL = "tiny-mlp";
/** A request's own deadline at the gateway: a request stranded by a crash fails by then. */
const REQUEST_TIMEOUT_MS = 15_000;
/** How long a client keeps reading back a request whose connection dropped. */
const READ_BACK_MS = 90_000;
/** A stream request with no answer this long is lost. */
const STREAM_ANSWER_MS = 60_000;
const DEPOSIT = 10n ** 19n;
const SESSION_SECONDS = 3_600;

const tensor = (i: number): Record<string, Tensor> => ({
  x: { dtype: "float32", dims: [1, 4], data: new Float32Array([i % 97, 1, 2, 3]) },
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs a bounded, closed-loop load of paid requests against a running devnet (per-request API
 * on two sessions, a session stream on a third) while agents, validators and the gateway are
 * killed with SIGKILL and started again at seeded random moments; then reads every request
 * back, waits for settlement, closes the sessions on chain and reconciles all of it.
 * anvil stays up. Leaves chain time moved past the sessions' expiry.
 */
export async function runChaos(devnet: Devnet, opts: ChaosOptions): Promise<ChaosReport> {
  const say = opts.onEvent ?? (() => undefined);
  const url = devnet.file.gateway.url;
  const owner = privateKeyToAccount(devnet.file.client.privateKey as `0x${string}`);
  const chainConfig = {
    rpcUrl: devnet.file.chain.rpcUrl,
    chainId: devnet.file.chain.chainId,
    contracts: devnet.chain.contracts,
  };
  const contracts = devnet.chain.contracts;
  const read = createNcnReadClient({ rpcUrl: chainConfig.rpcUrl, chainId: chainConfig.chainId });
  const validatorSet = chainValidatorSet(chainConfig);
  const quoter = new NcnClient({ gatewayUrl: url, account: owner });
  const q = await quoter.quote(SUBNET, MODEL);
  const domain = ncnDomain(q.chainId, q.paymentContract as `0x${string}`);
  const price = BigInt(q.price);

  // Money before: what the payees hold and what the contract holds.
  const payees = [q.gateway, ...devnet.agentAddresses] as Address[];
  const before = await moneyView(read, contracts, payees, owner.address);

  const sessions: { sessionId: `0x${string}`; kind: LoadKind; client: NcnClient }[] = [];
  for (const kind of ["api", "api", "stream"] as const) {
    const { sessionId } = await openPaymentSession(chainConfig, owner, {
      gateway: q.gateway as `0x${string}`,
      amount: DEPOSIT,
      expiresInSeconds: SESSION_SECONDS,
    });
    const client = new NcnClient({ gatewayUrl: url, account: owner, validatorSet });
    await client.registerSession(sessionId);
    sessions.push({ sessionId, kind, client });
  }
  say(`sessions ${sessions.map((s) => `${s.kind} ${s.sessionId.slice(0, 10)}…`).join(", ")}`);

  const plan = planKills({
    seed: opts.seed,
    requests: opts.requests,
    kills: opts.kills,
    agents: devnet.agents.length,
    validators: devnet.registries.length,
    ...(opts.downMs ? { downMs: opts.downMs } : {}),
  });
  const records: RequestRecord[] = [];
  const apiIds = new Map<RequestRecord, string>();
  const t0 = Date.now();
  let sent = 0;
  let chaosDone = plan.length === 0;
  let lastRestart = 0;
  const recoveredSinceLast = () =>
    (["api", "stream"] as const).every((kind) =>
      records.some((r) => r.kind === kind && r.outcome === "ok" && r.sentAt >= lastRestart),
    );
  const running = () =>
    Date.now() - t0 < (opts.maxLoadMs ?? 15 * 60_000) &&
    (sent < opts.requests || !chaosDone || !recoveredSinceLast());

  const apiWorker = async (session: (typeof sessions)[number], worker: number) => {
    for (let n = 0; running(); n++) {
      const requestId = `chaos-${opts.seed}-${worker}-${n}`;
      sent += 1;
      const record = await apiRequest(session.client, session.sessionId, requestId, price, sent);
      apiIds.set(record, requestId);
      records.push(record);
      // Refused outright (no quorum, no agent, gateway down): do not spin.
      if (record.outcome !== "ok") await sleep(100);
    }
  };

  const streamWorker = async (session: (typeof sessions)[number]) => {
    let stream: NcnStream | undefined;
    let closed = false;
    let opened = 0;
    while (running()) {
      if (!stream || closed) {
        try {
          stream = await session.client.openStream({ subnet: SUBNET, model: MODEL });
          closed = false;
          const s = stream;
          const nth = ++opened;
          const atOpen = s.charged;
          const okBefore = records.filter((r) => r.kind === "stream" && r.outcome === "ok").length;
          void stream.socketClosed.then((how) => {
            closed = true;
            const okNow = records.filter((r) => r.kind === "stream" && r.outcome === "ok").length;
            say(
              `  stream ${nth} closed (${how.code}): charged ${atOpen} at open, ${s.charged} at close; ~${okNow - okBefore} results`,
            );
          });
        } catch {
          await sleep(200);
          continue;
        }
      }
      const open = stream;
      const batch = Array.from({ length: opts.streamBatch ?? 8 }, () => {
        sent += 1;
        return streamRequest(open, session.sessionId, price, sent, domain, validatorSet);
      });
      const done = await Promise.all(batch);
      records.push(...done);
      // Refused (no agent connected yet after a restart, say): back off before the next batch.
      if (done.some((r) => r.outcome !== "ok")) await sleep(500);
    }
    if (stream && !closed) await stream.close();
  };

  const kills: KillRecord[] = [];
  const chaos = async () => {
    for (const k of plan) {
      while (sent < k.afterRequests && Date.now() - t0 < (opts.maxLoadMs ?? 15 * 60_000)) await sleep(20);
      const at = Date.now() - t0;
      say(`kill ${k.kind}${k.kind === "gateway" ? "" : ` ${k.target}`} at ${sent} requests`);
      await kill(devnet, k);
      await sleep(k.downMs);
      const startedAt = Date.now();
      await start(devnet, k);
      lastRestart = Date.now();
      kills.push({
        kind: k.kind,
        target: k.target,
        at,
        downMs: k.downMs,
        restartMs: lastRestart - startedAt,
        recoveryMs: {},
      });
      say(`  ${k.kind} back after ${lastRestart - startedAt} ms`);
    }
    chaosDone = true;
  };

  const apiSessions = sessions.filter((s) => s.kind === "api");
  const workers = Array.from({ length: opts.apiWorkers ?? 4 }, (_, i) =>
    apiWorker(apiSessions[i % apiSessions.length] as (typeof sessions)[number], i),
  );
  const progress = setInterval(
    () => say(`  ${sent} sent, ${records.filter((r) => r.outcome === "ok").length} ok`),
    10_000,
  );
  try {
    await Promise.all([...workers, streamWorker(sessions[2] as (typeof sessions)[number]), chaos()]);
  } finally {
    clearInterval(progress);
  }
  const durationMs = Date.now() - t0;
  for (const k of kills) {
    const restartedAt = t0 + k.at + k.downMs + k.restartMs;
    for (const kind of ["api", "stream"] as const) {
      const first = records
        .filter((r) => r.kind === kind && r.outcome === "ok" && r.sentAt >= restartedAt)
        .reduce<number | undefined>((m, r) => (m === undefined || r.doneAt < m ? r.doneAt : m), undefined);
      if (first !== undefined) k.recoveryMs[kind] = first - restartedAt;
    }
  }
  say(
    `load done: ${records.length} requests in ${(durationMs / 1000).toFixed(1)} s; reading every request back`,
  );

  // The gateway's final word on every per-request API request.
  for (const [record, requestId] of apiIds) {
    const session = sessions.find((s) => s.sessionId === record.sessionId);
    record.gatewayState = session ? await finalState(session.client, requestId) : "unknown";
  }

  // Each client signs exactly what it received: the vouchers its requests carried also counted
  // requests in flight (after a failure the last charges may match none), and a stream closed
  // by a gateway kill never acknowledged its last results.
  for (const s of sessions) {
    await s.client
      .acknowledge()
      .catch((e: unknown) => say(`  session ${s.sessionId.slice(0, 10)}: not acknowledged (${String(e)})`));
  }

  const delivered = new Map<`0x${string}`, bigint>();
  for (const s of sessions) {
    delivered.set(
      s.sessionId,
      records
        .filter((r) => r.sessionId === s.sessionId && r.outcome === "ok")
        .reduce((sum, r) => sum + r.price, 0n),
    );
  }
  say("waiting for settlement");
  const settlement = await waitForSettlement(devnet, delivered, opts.settleTimeoutMs ?? 90_000);
  const standings = settlement.sessions.map((s) => ({
    ...s,
    kind: sessions.find((x) => x.sessionId === s.sessionId)?.kind ?? "api",
  }));

  const chain = await reconcileChain(
    devnet,
    read,
    payees,
    owner.address,
    before,
    sessions.map((s) => s.sessionId),
  );
  const failures: Record<string, number> = {};
  const failureMessages: Record<string, string> = {};
  for (const r of records) {
    if (r.outcome !== "failed") continue;
    const code = r.code ?? "?";
    failures[code] = (failures[code] ?? 0) + 1;
    if (r.message && !failureMessages[code]) failureMessages[code] = `${r.kind}: ${r.message}`;
  }
  const report: Omit<ChaosReport, "ok"> = {
    seed: opts.seed,
    durationMs,
    counts: tallyRequests(records, standings),
    failureMessages,
    kills,
    sessions: standings,
    settleMs: settlement.settleMs,
    settled: settlement.done,
    settlementProblems: settlement.done
      ? []
      : [
          `pending ${settlement.settlement.pending.count}, in flight ${settlement.settlement.inFlight.length}`,
          ...settlement.settlement.problems.map((p) => `${p.code}: ${p.message}`),
        ],
    chain,
    failures,
  };
  return { ...report, ok: runOk(report) };
}

async function kill(devnet: Devnet, k: PlannedKill): Promise<void> {
  const actions: Record<KillKind, () => Promise<void>> = {
    agent: () => devnet.killAgent(k.target),
    validator: () => devnet.killRegistry(k.target),
    gateway: () => devnet.killGateway(),
  };
  await actions[k.kind]();
}

async function start(devnet: Devnet, k: PlannedKill): Promise<void> {
  const actions: Record<KillKind, () => Promise<void>> = {
    agent: () => devnet.startAgent(k.target),
    validator: () => devnet.startRegistry(k.target),
    gateway: () => devnet.startGateway(),
  };
  await actions[k.kind]();
}

/** Whether an error is the gateway's typed answer, as opposed to a dropped connection. */
function typedError(e: unknown): e is BaseError {
  return e instanceof BaseError && e.code !== "INTERNAL";
}

/**
 * One per-request API call as a careful client makes it: a typed error is final; a dropped
 * connection (or an answer that is not final) is followed by reading the request back by its
 * id until it is final, since it may have run and been charged.
 */
async function apiRequest(
  client: NcnClient,
  sessionId: `0x${string}`,
  requestId: string,
  price: bigint,
  n: number,
): Promise<RequestRecord> {
  const sentAt = Date.now();
  const base = { kind: "api" as const, sessionId, price, sentAt };
  let response: InferenceResponse | undefined;
  let recovered = false;
  try {
    ({ response } = await client.infer({
      subnet: SUBNET,
      model: MODEL,
      requestId,
      inputs: tensor(n),
      timeoutMs: REQUEST_TIMEOUT_MS,
    }));
  } catch (e) {
    if (typedError(e))
      return {
        ...base,
        doneAt: Date.now(),
        outcome: "failed",
        code: e.code,
        message: e.details === undefined ? e.shortMessage : `${e.shortMessage} ${JSON.stringify(e.details)}`,
        recovered,
      };
  }
  if (!response || (response.state !== "returned" && response.state !== "failed")) {
    recovered = true;
    const back = await readBack(client, requestId);
    if (back instanceof BaseError)
      return {
        ...base,
        doneAt: Date.now(),
        outcome: "failed",
        code: back.code,
        message: back.shortMessage,
        recovered,
      };
    response = back;
  }
  if (!response) return { ...base, doneAt: Date.now(), outcome: "unknown", recovered };
  if (response.state === "failed" || response.state === "cancelled")
    return {
      ...base,
      doneAt: Date.now(),
      outcome: "failed",
      code: response.error?.code ?? response.state,
      ...(response.error?.message ? { message: response.error.message } : {}),
      recovered,
    };
  if (response.state !== "returned") return { ...base, doneAt: Date.now(), outcome: "unknown", recovered };
  const verification = await client.verifyReceipt(response).catch(() => undefined);
  return { ...base, doneAt: Date.now(), outcome: verification?.ok ? "ok" : "unverified", recovered };
}

/** Reads a request back until it is final: its response, a typed error (no such request), or undefined. */
async function readBack(
  client: NcnClient,
  requestId: string,
): Promise<InferenceResponse | BaseError | undefined> {
  const deadline = Date.now() + READ_BACK_MS;
  while (Date.now() < deadline) {
    try {
      // Through the client, so that it settles what it owes for the request.
      const r = await client.status(requestId, { waitMs: 2_000 });
      if (r.state === "returned" || r.state === "failed" || r.state === "cancelled") return r;
    } catch (e) {
      // Never created (the gateway went down before it stored the request): nothing was charged.
      if (e instanceof BaseError && e.code === "REQUEST_NOT_FOUND") return e;
    }
    await sleep(250);
  }
  return undefined;
}

/** The request's state as the gateway ends it; `not_found` when it never existed. */
async function finalState(client: NcnClient, requestId: string): Promise<string> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return (await client.status(requestId)).state;
    } catch (e) {
      if (e instanceof BaseError && e.code === "REQUEST_NOT_FOUND") return "not_found";
      await sleep(500);
    }
  }
  return "unknown";
}

/** One stream request: a verified result, a typed error, or nothing within a minute (lost). */
async function streamRequest(
  stream: NcnStream,
  sessionId: `0x${string}`,
  price: bigint,
  n: number,
  domain: ReturnType<typeof ncnDomain>,
  validatorSet: ReturnType<typeof chainValidatorSet>,
): Promise<RequestRecord> {
  const sentAt = Date.now();
  const base = { kind: "stream" as const, sessionId, price, sentAt, recovered: false };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => {
    timer = setTimeout(() => r("timeout"), STREAM_ANSWER_MS);
  });
  try {
    const result = await Promise.race([stream.infer(MODEL, tensor(n)), timeout]);
    if (result === "timeout") return { ...base, doneAt: Date.now(), outcome: "unknown" };
    const check = await verifyStreamResult(result.frame, await validatorSet(), domain);
    return { ...base, price: result.price, doneAt: Date.now(), outcome: check.ok ? "ok" : "unverified" };
  } catch (e) {
    return {
      ...base,
      doneAt: Date.now(),
      outcome: e instanceof BaseError ? "failed" : "unknown",
      ...(e instanceof BaseError ? { code: e.code, message: e.shortMessage } : {}),
    };
  } finally {
    clearTimeout(timer);
  }
}

interface MoneyView {
  credits: bigint;
  pools: bigint;
  contract: bigint;
  client: bigint;
}

async function moneyView(
  read: ReturnType<typeof createNcnReadClient>,
  contracts: Devnet["chain"]["contracts"],
  payees: readonly Address[],
  client: Address,
): Promise<MoneyView> {
  let credits = 0n;
  for (const p of payees) credits += await creditOf(read, contracts, p);
  const pools = await readFeePools(read, contracts);
  return {
    credits,
    pools: pools.validatorFees + pools.protocolFees,
    contract: await tokenBalance(read, contracts, contracts.payment),
    client: await tokenBalance(read, contracts, client),
  };
}

/**
 * Closes the run's sessions on chain (after moving time past expiry and grace) and checks the
 * money: deposits = payouts + refunds + unspent; payouts = what the sessions settled; the
 * contract's balance changed by deposits - refunds; the client's by refunds - deposits.
 */
async function reconcileChain(
  devnet: Devnet,
  read: ReturnType<typeof createNcnReadClient>,
  payees: readonly Address[],
  client: Address,
  before: MoneyView,
  sessionIds: readonly `0x${string}`[],
): Promise<ChainBalance> {
  const contracts = devnet.chain.contracts;
  let deposits = 0n;
  let settled = 0n;
  for (const id of sessionIds) {
    const s = await readSession(read, contracts, id);
    deposits += s.deposit;
    settled += s.settled;
  }
  const config = await readContract(read, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "config",
  });
  await devnet.chain.advanceTime(SESSION_SECONDS + config.settlementGrace + 60);
  const writer = devnet.chain.client(devnet.file.client.privateKey as `0x${string}`);
  let refunds = 0n;
  for (const id of sessionIds) refunds += (await closeSession(writer, contracts, id)).refund;
  let unspent = 0n;
  for (const id of sessionIds) {
    const s = await readSession(read, contracts, id);
    unspent += s.deposit - s.settled;
  }
  const after = await moneyView(read, contracts, payees, client);
  const payouts = after.credits - before.credits + (after.pools - before.pools);
  const contractDelta = after.contract - before.contract;
  const ok =
    deposits === payouts + refunds + unspent &&
    payouts === settled &&
    contractDelta === deposits - refunds &&
    after.client - before.client === refunds - deposits;
  return { deposits, payouts, refunds, unspent, settled, contractDelta, ok };
}
