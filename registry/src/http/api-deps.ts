import type { ValidatorSetReader } from "../chain/validator-set.ts";
import type { GossipService } from "../gossip/gossip-service.ts";
import type { Logger } from "../logger.ts";
import type { MempoolService } from "../mempool/mempool-service.ts";
import type { RecordIndex } from "../records/record-index.ts";
import type { RecordService } from "../records/record-service.ts";
import type { ReputationService } from "../reputation/reputation-service.ts";
import type { AttestationStore } from "../store/attestation-store.ts";
import type { ValidationService } from "../validation/validation-service.ts";
import type { GatewayAuthenticator } from "./gateway-auth.ts";

/** Everything the HTTP API reads or drives. */
export interface ApiDeps {
  index: RecordIndex;
  records: RecordService;
  gossip: GossipService;
  reputation: ReputationService;
  validation: ValidationService;
  /** Who may call the validation API and post validation work. */
  gatewayAuth: GatewayAuthenticator;
  mempool: MempoolService;
  attestations: AttestationStore;
  validatorSet?: ValidatorSetReader | undefined;
  /** Node facts for /health (peer id, addresses, routing table, uptime...). */
  health: () => Record<string, unknown>;
  log: Logger;
}
