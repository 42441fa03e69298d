import type { Database } from "bun:sqlite";
import { join } from "node:path";
import type { GossipSub } from "@libp2p/gossipsub";
import type { SingleKadDHT } from "@libp2p/kad-dht";
import { chainReaders } from "./chain/chain-readers.ts";
import type { NameOwnerReader } from "./chain/name-owners.ts";
import type { PaymentReader } from "./chain/payment-reader.ts";
import type { ValidatorSetReader } from "./chain/validator-set.ts";
import type { RegistryConfig } from "./config.ts";
import { GatewayAuthenticator } from "./http/gateway-auth.ts";
import type { Logger } from "./logger.ts";
import { createRegistryLibp2p, type RegistryLibp2p } from "./p2p/create-libp2p.ts";
import { loadOrCreatePeerKey } from "./p2p/peer-key.ts";
import { dhtRecordSelector, dhtRecordValidator } from "./records/dht-record-validator.ts";
import { RecordIndex } from "./records/record-index.ts";
import { lazyOnnxReexecutor } from "./reexec/onnx-reexecutor.ts";
import type { Reexecutor } from "./reexec/reexecutor.ts";
import { ReputationBook } from "./reputation/reputation-book.ts";
import { AttestationStore } from "./store/attestation-store.ts";
import { CompletionStore } from "./store/completion-store.ts";
import { openDatabase } from "./store/database.ts";
import { PreattestationStore } from "./store/preattestation-store.ts";
import { ReceiptStore } from "./store/receipt-store.ts";
import { type AttestationSigner, attestationSigner } from "./validation/attestation-signer.ts";

/**
 * What a registry node's services are built from: its stores (one SQLite database), its
 * keys, its chain readers and its libp2p node (created, not started). Each service declares
 * the part of this it uses.
 */
export interface RegistryComponents {
  config: RegistryConfig;
  /** The node's root logger (`registry`); each service logs under its own child. */
  logger: Logger;
  db: Database;
  /** Runs store writes as one SQLite transaction. */
  transaction: <T>(run: () => T) => T;
  index: RecordIndex;
  reputationBook: ReputationBook;
  attestations: AttestationStore;
  receipts: ReceiptStore;
  preattested: PreattestationStore;
  completions: CompletionStore;
  /** Who may call the validation API and post validation work. */
  gatewayAuth: GatewayAuthenticator;
  /** The validator key, when this node is a validator. */
  signer: AttestationSigner | undefined;
  payments: PaymentReader | undefined;
  validatorSet: ValidatorSetReader | undefined;
  names: NameOwnerReader | undefined;
  reexecutor: Reexecutor | undefined;
  libp2p: RegistryLibp2p;
  dht: SingleKadDHT;
  pubsub: GossipSub;
  /** DHT records the node's record validator refused. */
  dhtStats: { rejected: number };
}

/** What the caller may give instead of what the configuration builds. */
export interface GivenComponents {
  payments?: PaymentReader | undefined;
  validatorSet?: ValidatorSetReader | undefined;
  names?: NameOwnerReader | undefined;
  reexecutor?: Reexecutor | undefined;
}

/** The components and what releases the resources they hold (after every service stopped). */
export interface CreatedComponents {
  components: RegistryComponents;
  close(): Promise<void>;
}

/**
 * Builds a node's components from its configuration: reads (or creates) the peer key,
 * connects the chain readers, opens the database and creates libp2p without starting it.
 */
export async function createComponents(
  config: RegistryConfig,
  logger: Logger,
  given: GivenComponents = {},
): Promise<CreatedComponents> {
  const { key } = await loadOrCreatePeerKey(config.peerKeyFile ?? join(config.dataDir, "peer.key"));
  const signer = config.validatorKey ? attestationSigner(config.validatorKey) : undefined;
  const chain = await chainReaders({ config, validator: signer?.address, given });
  const ownReexecutor =
    given.reexecutor === undefined && signer && config.spotCheckFraction > 0
      ? lazyOnnxReexecutor(
          join(config.dataDir, "models"),
          config.modelDirs.length > 0
            ? { allowHttp: false, allowPrivateHosts: false, localDirs: config.modelDirs }
            : undefined,
        )
      : undefined;
  const db = openDatabase(join(config.dataDir, "registry.sqlite"));
  const close = async () => {
    await ownReexecutor?.close();
    db.close();
  };
  try {
    const index = new RecordIndex(db);
    const dhtStats = { rejected: 0 };
    const libp2p = await createRegistryLibp2p({
      privateKey: key,
      listen: config.listen,
      bootstrap: config.bootstrap,
      validate: dhtRecordValidator({
        index,
        names: chain.names,
        log: logger.child("dht"),
        onValid: (record) => index.upsert(record),
        onRejected: () => dhtStats.rejected++,
      }),
      select: dhtRecordSelector,
      sync: { index, log: logger.child("sync"), names: chain.names },
    });
    const components: RegistryComponents = {
      config,
      logger,
      db,
      transaction: (run) => db.transaction(run)(),
      index,
      reputationBook: new ReputationBook(db),
      attestations: new AttestationStore(db),
      receipts: new ReceiptStore(db),
      preattested: new PreattestationStore(db),
      completions: new CompletionStore(db),
      gatewayAuth: new GatewayAuthenticator(config.trustedGateways),
      signer,
      ...chain,
      reexecutor: given.reexecutor ?? ownReexecutor,
      libp2p,
      dht: libp2p.services.dht,
      pubsub: libp2p.services.pubsub,
      dhtStats,
    };
    return { components, close };
  } catch (e) {
    await close();
    throw e;
  }
}
