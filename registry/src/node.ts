import type { Startable } from "@libp2p/interface";
import { createComponents } from "./components.ts";
import { resolveConfig } from "./config.ts";
import { gossipService } from "./gossip/gossip-service.ts";
import { apiServer } from "./http/api-server.ts";
import { startInOrder, stopInReverse } from "./lifecycle.ts";
import { createLogger } from "./logger.ts";
import { mempoolService } from "./mempool/mempool-service.ts";
import { convergeOnJoin } from "./p2p/converge-service.ts";
import { recordService } from "./records/record-service.ts";
import { republishService } from "./records/republish-service.ts";
import { validatorRecordService } from "./records/validator-record-service.ts";
import type { RegistryNode, StartRegistryNodeOptions } from "./registry-node.ts";
import { reputationService } from "./reputation/reputation-service.ts";
import { pruneService } from "./store/prune-service.ts";
import { validationService } from "./validation/validation-service.ts";

export type { RegistryNode, StartRegistryNodeOptions } from "./registry-node.ts";

/**
 * Starts a registry node: SQLite state, libp2p (DHT + gossip), the HTTP API, and the
 * validator role when it has a key and a chain. Each service starts after those it uses
 * and stops before them.
 *
 * @example
 * const node = await startRegistryNode({ config: { dataDir, httpPort: 0 } });
 * await fetch(`${node.url}/health`);
 * await node.stop();
 */
export async function startRegistryNode(options: StartRegistryNodeOptions): Promise<RegistryNode> {
  const config = resolveConfig(options.config);
  const logger = options.logger ?? createLogger("registry", { level: config.logLevel });
  const { components, close } = await createComponents(config, logger, options);
  const { libp2p, dht, signer, payments } = components;
  const gossip = gossipService()(components);
  const records = recordService()({ ...components, gossip });
  const { trustedGateways, spotCheckFraction: fraction, spotCheckAtol: atol, spotCheckRtol: rtol } = config;
  const reputation = reputationService({ trustedGateways })({ ...components, gossip });
  const spotCheck = { fraction, atol, rtol, ...(options.random ? { random: options.random } : {}) };
  const validation = validationService({ spotCheck })({ ...components, reputation });
  const mempool = mempoolService()({ ...components, gossip, validation });
  const built = { ...components, gossip, records, reputation, validation, mempool };
  const pruning = pruneService()(built);
  const { httpHost: host, httpPort: port } = config;
  const api = apiServer({ host, port, socketLimits: options.socketLimits })(built);
  const services: Startable[] = [
    libp2p,
    gossip,
    records,
    reputation,
    mempool,
    pruning,
    api,
    validatorRecordService({ publicUrl: config.publicUrl })({ ...built, api }),
    republishService()(built),
    // Last, so stopping ends its dials first: a stopping node must not re-dial peers that leave.
    convergeOnJoin({ bootstrap: config.bootstrap })(components),
  ];
  await startInOrder(services).catch(async (e: unknown) => {
    await close();
    throw e;
  });
  const peerId = libp2p.peerId.toString();
  const multiaddrs = () => libp2p.getMultiaddrs().map((a) => a.toString());
  const url = api.url;
  logger.info("registry node started", {
    peerId,
    url,
    addresses: multiaddrs(),
    validator: signer?.address ?? null,
    chain: payments ? { chainId: payments.domain.chainId, payment: payments.domain.verifyingContract } : null,
  });
  let stopping: Promise<void> | undefined;
  return {
    config,
    peerId,
    url,
    fetch: (req) => api.fetch(req),
    libp2p,
    db: components.db,
    index: components.index,
    records,
    gossip,
    reputation,
    validation,
    mempool,
    attestations: components.attestations,
    signer,
    multiaddrs,
    routingTableSize: () => dht.routingTable.size,
    prune: (now) => pruning.prune(now),
    stop() {
      stopping ??= stopInReverse(services)
        .finally(close)
        .then(() => logger.info("registry node stopped", { peerId }));
      return stopping;
    },
  };
}
