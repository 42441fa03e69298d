import type { Database } from "bun:sqlite";
import { join } from "node:path";
import { recordSigningText, type SignedRecord, type UnsignedRecord } from "@ncn/protocol";
import type { Server } from "bun";
import { contractsNameOwners } from "./chain/contracts-name-owners.ts";
import { contractsPaymentReader } from "./chain/contracts-payment-reader.ts";
import { contractsValidatorSet } from "./chain/contracts-validator-set.ts";
import type { NameOwnerReader } from "./chain/name-owners.ts";
import type { PaymentReader } from "./chain/payment-reader.ts";
import { staticValidatorSet, type ValidatorSetReader } from "./chain/validator-set.ts";
import { type RegistryConfig, type RegistryConfigInput, resolveConfig } from "./config.ts";
import {
  ATTESTATION_KEEP_MS,
  CONVERGE_WARMUP_MS,
  MAX_ATTESTATIONS,
  MAX_PREATTESTED,
  MAX_REPUTATION_EVENTS,
  PREATTESTED_KEEP_MS,
  PREATTESTED_MAX_AGE_MS,
  PRUNE_INTERVAL_MS,
  REPUBLISH_INTERVAL_MS,
  REPUTATION_EVENT_KEEP_MS,
  TOPIC_REPUTATION,
} from "./constants.ts";
import { GossipService } from "./gossip/gossip-service.ts";
import { heartbeatHandler } from "./gossip/handlers/heartbeat.ts";
import { mempoolHandler } from "./gossip/handlers/mempool.ts";
import { recordsHandler } from "./gossip/handlers/records.ts";
import { reputationHandler } from "./gossip/handlers/reputation.ts";
import { createApp } from "./http/app.ts";
import { GatewayAuthenticator } from "./http/gateway-auth.ts";
import { DEFAULT_SOCKET_LIMITS, type SocketLimits, SocketSlots } from "./http/socket-limits.ts";
import {
  upgradeValidationSocket,
  VALIDATE_SOCKET_PATH,
  type ValidationSocketData,
  type ValidationSocketStats,
  validationSocketHandlers,
} from "./http/validate-socket.ts";
import { createLogger, type Logger } from "./logger.ts";
import { MempoolService } from "./mempool/mempool-service.ts";
import { convergeOnJoin } from "./p2p/converge.ts";
import { createRegistryLibp2p, type RegistryLibp2p } from "./p2p/create-libp2p.ts";
import { loadOrCreatePeerKey } from "./p2p/peer-key.ts";
import { dhtRecordSelector, dhtRecordValidator } from "./records/dht-record-validator.ts";
import { RecordIndex } from "./records/record-index.ts";
import { RecordService } from "./records/record-service.ts";
import { lazyOnnxReexecutor } from "./reexec/onnx-reexecutor.ts";
import type { Reexecutor } from "./reexec/reexecutor.ts";
import { ReputationBook } from "./reputation/reputation-book.ts";
import { ReputationService } from "./reputation/reputation-service.ts";
import { AttestationStore } from "./store/attestation-store.ts";
import { CompletionStore } from "./store/completion-store.ts";
import { openDatabase, SCHEMA_VERSION } from "./store/database.ts";
import { PreattestationStore } from "./store/preattestation-store.ts";
import { ReceiptStore } from "./store/receipt-store.ts";
import { type AttestationSigner, attestationSigner } from "./validation/attestation-signer.ts";
import { ValidationService } from "./validation/validation-service.ts";

export interface StartRegistryNodeOptions {
  config: RegistryConfigInput;
  /** Chain access; by default built from `rpcUrl` + `paymentContract`. */
  payments?: PaymentReader;
  /** By default read from `validatorRegistry`, else none. */
  validatorSet?: ValidatorSetReader;
  /**
   * Owners of subnet and model names; by default the claims in `validatorRegistry`. Without
   * one (no chain), a node keeps the first owner it sees for a name, which does not outlive
   * the record's expiry.
   */
  names?: NameOwnerReader;
  /** Spot-check re-execution; by default the agent's ONNX runtime, loaded on first use. */
  reexecutor?: Reexecutor;
  logger?: Logger;
  /** Sampling source for spot checks (tests pin it). */
  random?: () => number;
  /** Limits of the validation sockets; `DEFAULT_SOCKET_LIMITS` where not given. */
  socketLimits?: Partial<SocketLimits>;
}

/** A running registry/validator node. */
export interface RegistryNode {
  readonly config: RegistryConfig;
  readonly peerId: string;
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:4747`. */
  readonly url: string;
  /** Answers one API request in-process: the handler the server runs (socket upgrades aside). */
  fetch(req: Request): Promise<Response>;
  readonly libp2p: RegistryLibp2p;
  readonly db: Database;
  readonly index: RecordIndex;
  readonly records: RecordService;
  readonly gossip: GossipService;
  readonly reputation: ReputationService;
  readonly validation: ValidationService;
  readonly mempool: MempoolService;
  readonly attestations: AttestationStore;
  readonly signer: AttestationSigner | undefined;
  /** libp2p addresses with this node's peer id, for other nodes to bootstrap from. */
  multiaddrs(): string[];
  /** Peers in the DHT routing table. */
  routingTableSize(): number;
  /**
   * What the node's schedule runs every `PRUNE_INTERVAL_MS`: every store pruned by age (as
   * of `now`) and capped. Answers how many rows (or entries) each lost.
   */
  prune(now?: number): Record<string, number>;
  stop(): Promise<void>;
}

function routingTableSizeOf(dht: unknown): number {
  const table = (dht as { routingTable?: { size?: unknown } }).routingTable;
  return typeof table?.size === "number" ? table.size : 0;
}

/**
 * Starts a registry node: SQLite state, libp2p (DHT + gossip), the HTTP API, and the
 * validator role when it has a key and a chain. Publishes its validator record and puts
 * its own records back into the DHT.
 *
 * @example
 * const node = await startRegistryNode({ config: { dataDir, httpPort: 0 } });
 * await fetch(`${node.url}/health`);
 * await node.stop();
 */
export async function startRegistryNode(options: StartRegistryNodeOptions): Promise<RegistryNode> {
  const config = resolveConfig(options.config);
  const root = options.logger ?? createLogger("registry", { level: config.logLevel });
  const log = root;
  const db = openDatabase(join(config.dataDir, "registry.sqlite"));
  const index = new RecordIndex(db);
  const book = new ReputationBook(db);
  const attestations = new AttestationStore(db);
  const receipts = new ReceiptStore(db);
  const preattested = new PreattestationStore(db);
  const completions = new CompletionStore(db);
  const gatewayAuth = new GatewayAuthenticator(config.trustedGateways);
  const { key } = await loadOrCreatePeerKey(config.peerKeyFile ?? join(config.dataDir, "peer.key"));
  const signer = config.validatorKey ? attestationSigner(config.validatorKey) : undefined;

  const payments =
    options.payments ??
    (config.rpcUrl && config.paymentContract
      ? await contractsPaymentReader({ rpcUrl: config.rpcUrl, paymentContract: config.paymentContract })
      : undefined);
  const validatorSet =
    options.validatorSet ??
    (config.rpcUrl && config.validatorRegistry && payments
      ? contractsValidatorSet({
          rpcUrl: config.rpcUrl,
          chainId: payments.domain.chainId,
          validatorRegistry: config.validatorRegistry,
        })
      : signer
        ? staticValidatorSet([signer.address])
        : undefined);

  const names =
    options.names ??
    (config.rpcUrl && config.validatorRegistry && payments
      ? contractsNameOwners({
          rpcUrl: config.rpcUrl,
          chainId: payments.domain.chainId,
          validatorRegistry: config.validatorRegistry,
        })
      : undefined);

  const ownReexecutor =
    options.reexecutor === undefined && signer && config.spotCheckFraction > 0
      ? lazyOnnxReexecutor(
          join(config.dataDir, "models"),
          config.modelDirs.length > 0
            ? {
                allowHttp: false,
                allowPrivateHosts: false,
                localDirs: config.modelDirs,
              }
            : undefined,
        )
      : undefined;
  const reexecutor = options.reexecutor ?? ownReexecutor;

  const dhtCounters = { rejected: 0 };
  const libp2p = await createRegistryLibp2p({
    privateKey: key,
    listen: config.listen,
    bootstrap: config.bootstrap,
    validate: dhtRecordValidator({
      index,
      names,
      log: log.child("dht"),
      onValid: (record) => index.upsert(record),
      onRejected: () => dhtCounters.rejected++,
    }),
    select: dhtRecordSelector,
    sync: { index, log: log.child("sync"), names },
  });
  const peerId = libp2p.peerId.toString();

  const gossip = new GossipService(libp2p.services.pubsub, log.child("gossip"));
  const records = new RecordService({
    index,
    dht: libp2p.services.dht,
    gossip,
    log: log.child("records"),
    names,
  });
  const reputation = new ReputationService({
    book,
    trustedGateways: config.trustedGateways,
    validatorSet,
    signer,
    broadcast: async (report) => {
      await gossip.publish(TOPIC_REPUTATION, report);
    },
    log: log.child("reputation"),
  });
  let mempool: MempoolService | undefined;
  const validation = new ValidationService({
    index,
    reputation: book,
    attestations,
    receipts,
    preattested,
    completions,
    signer,
    payments,
    reexecutor,
    spotCheck: {
      fraction: config.spotCheckFraction,
      atol: config.spotCheckAtol,
      rtol: config.spotCheckRtol,
      ...(options.random ? { random: options.random } : {}),
    },
    onReputationEvent: (e) => reputation.record(e),
    onLocalSuccesses: (events) => reputation.recordLocalSuccesses(events),
    transaction: (run) => db.transaction(run)(),
    onAttestation: (res) => void mempool?.announce(res),
    log: log.child("validation"),
  });
  mempool = new MempoolService({
    gossip,
    validation,
    attestations,
    domain: payments?.domain,
    validatorSet,
    gatewayAuth,
    log: log.child("mempool"),
  });
  gossip.register(heartbeatHandler(index));
  gossip.register(recordsHandler(index, names));
  gossip.register(reputationHandler(reputation));
  gossip.register(mempoolHandler(mempool));

  const startedAt = Date.now();
  const lifetime = new AbortController();
  await libp2p.start();
  gossip.start();
  const stopConverging = convergeOnJoin(libp2p, {
    warmupMs: CONVERGE_WARMUP_MS,
    debounceMs: 250,
    maxPeerTriggered: 3,
    bootstrap: config.bootstrap,
    redialMs: 2_000,
    log: log.child("dht"),
  });

  const mp = mempool;
  const socketStats: ValidationSocketStats = { opened: 0, refused: 0, closedByLimit: 0 };
  const socketLimits = { ...DEFAULT_SOCKET_LIMITS, ...options.socketLimits };
  const socketSlots = new SocketSlots(socketLimits);
  const app = createApp({
    index,
    records,
    gossip,
    reputation,
    validation,
    gatewayAuth,
    mempool: mp,
    attestations,
    validatorSet,
    log: log.child("http"),
    health: () => ({
      peerId,
      addresses: libp2p.getMultiaddrs().map((a) => a.toString()),
      peers: libp2p.getPeers().length,
      routingTable: routingTableSizeOf(libp2p.services.dht),
      uptimeMs: Date.now() - startedAt,
      schemaVersion: SCHEMA_VERSION,
      dht: { rejected: dhtCounters.rejected },
      indexSync: libp2p.services.indexSync.stats,
      mempool: mp.list().length,
      validationSockets: { ...socketStats, open: socketSlots.open },
    }),
  });
  let server: Server<ValidationSocketData>;
  try {
    server = Bun.serve<ValidationSocketData>({
      hostname: config.httpHost,
      port: config.httpPort,
      fetch(req, srv) {
        // Gateways keep a validation socket open (see validate-socket.ts); all else is the API.
        if (
          req.headers.get("upgrade")?.toLowerCase() === "websocket" &&
          new URL(req.url).pathname === VALIDATE_SOCKET_PATH
        ) {
          return upgradeValidationSocket(req, srv, gatewayAuth, socketSlots, socketStats);
        }
        return app.fetch(req);
      },
      websocket: validationSocketHandlers(validation, {
        slots: socketSlots,
        limits: socketLimits,
        stats: socketStats,
      }),
    });
  } catch (e) {
    await libp2p.stop();
    db.close();
    throw e;
  }
  const url = `http://${config.httpHost.includes(":") ? `[${config.httpHost}]` : config.httpHost}:${server.port}`;

  if (signer) {
    const previous = index.get("validator", signer.address)?.record;
    const unsigned = {
      kind: "validator",
      key: signer.address,
      seq: Math.max((previous?.seq ?? 0) + 1, Date.now()),
      owner: signer.address,
      body: {
        address: signer.address,
        peerId,
        url: config.publicUrl ?? url,
        stake: (await validatorSet?.stakeOf(signer.address).catch(() => 0n))?.toString() ?? "0",
      },
    } as UnsignedRecord;
    const signature = await signer.signMessage(recordSigningText(unsigned));
    index.upsert({ ...unsigned, signature } as SignedRecord, { own: true });
  }

  // Every store a peer or a caller can add to, pruned by age and capped on one schedule.
  const prune = (now = Date.now()) => {
    const removed = {
      records: index.prune(now),
      mempool: mp.prune(now),
      preattested:
        preattested.prune(now - PREATTESTED_KEEP_MS) +
        preattested.pruneSaved(now - PREATTESTED_MAX_AGE_MS, MAX_PREATTESTED),
      attestations: attestations.prune(now - ATTESTATION_KEEP_MS, MAX_ATTESTATIONS),
      reputationEvents: book.pruneEvents(now - REPUTATION_EVENT_KEEP_MS, MAX_REPUTATION_EVENTS),
    };
    if (Object.values(removed).some((n) => n > 0)) log.debug("pruned", removed);
    return removed;
  };
  const timers = [
    setInterval(() => prune(), PRUNE_INTERVAL_MS),
    setInterval(() => void records.republishOwn(lifetime.signal), REPUBLISH_INTERVAL_MS),
  ];
  for (const t of timers) t.unref?.();
  // Put own records back once the routing table has a peer (a lone node keeps them local).
  const republished = (async () => {
    const until = Date.now() + 30_000;
    while (routingTableSizeOf(libp2p.services.dht) === 0 && Date.now() < until && !lifetime.signal.aborted) {
      await Bun.sleep(100);
    }
    if (!lifetime.signal.aborted) await records.republishOwn(lifetime.signal);
  })().catch((e: unknown) => log.debug("republish stopped", { err: e }));

  log.info("registry node started", {
    peerId,
    url,
    addresses: libp2p.getMultiaddrs().map((a) => a.toString()),
    validator: signer?.address ?? null,
    chain: payments ? { chainId: payments.domain.chainId, payment: payments.domain.verifyingContract } : null,
  });

  let stopping: Promise<void> | undefined;
  return {
    config,
    peerId,
    url,
    fetch: async (req) => app.fetch(req),
    libp2p,
    db,
    index,
    records,
    gossip,
    reputation,
    validation,
    mempool: mp,
    attestations,
    signer,
    multiaddrs: () => libp2p.getMultiaddrs().map((a) => a.toString()),
    routingTableSize: () => routingTableSizeOf(libp2p.services.dht),
    prune,
    stop() {
      stopping ??= (async () => {
        for (const t of timers) clearInterval(t);
        lifetime.abort();
        stopConverging();
        mp.stop();
        await server.stop(true);
        await reputation.stop();
        gossip.stop();
        await libp2p.stop();
        await republished;
        await ownReexecutor?.close();
        db.close();
        log.info("registry node stopped", { peerId });
      })();
      return stopping;
    },
  };
}
