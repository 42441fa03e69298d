import type { Database } from "bun:sqlite";
import type { NameOwnerReader } from "./chain/name-owners.ts";
import type { PaymentReader } from "./chain/payment-reader.ts";
import type { ValidatorSetReader } from "./chain/validator-set.ts";
import type { RegistryConfig, RegistryConfigInput } from "./config.ts";
import type { GossipService } from "./gossip/gossip-service.ts";
import type { SocketLimits } from "./http/socket-limits.ts";
import type { Logger } from "./logger.ts";
import type { MempoolService } from "./mempool/mempool-service.ts";
import type { RegistryLibp2p } from "./p2p/create-libp2p.ts";
import type { RecordIndex } from "./records/record-index.ts";
import type { RecordService } from "./records/record-service.ts";
import type { Reexecutor } from "./reexec/reexecutor.ts";
import type { ReputationService } from "./reputation/reputation-service.ts";
import type { AttestationStore } from "./store/attestation-store.ts";
import type { AttestationSigner } from "./validation/attestation-signer.ts";
import type { ValidationService } from "./validation/validation-service.ts";

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
  /** Stops every service in the reverse of their start order; calling it again waits for the same stop. */
  stop(): Promise<void>;
}
