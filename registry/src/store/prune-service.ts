import type { Startable } from "@libp2p/interface";
import {
  ATTESTATION_KEEP_MS,
  MAX_ATTESTATIONS,
  MAX_PREATTESTED,
  MAX_REPUTATION_EVENTS,
  PREATTESTED_KEEP_MS,
  PREATTESTED_MAX_AGE_MS,
  PRUNE_INTERVAL_MS,
  REPUTATION_EVENT_KEEP_MS,
} from "../constants.ts";
import type { Logger } from "../logger.ts";
import type { MempoolService } from "../mempool/mempool-service.ts";
import type { RecordIndex } from "../records/record-index.ts";
import type { ReputationBook } from "../reputation/reputation-book.ts";
import type { AttestationStore } from "./attestation-store.ts";
import type { PreattestationStore } from "./preattestation-store.ts";

export interface PruneServiceInit {
  /** How often every store is pruned; `PRUNE_INTERVAL_MS` by default. */
  intervalMs?: number;
}

/** The parts of the node this service uses: every store a peer or a caller can add to. */
export interface PruneServiceComponents {
  index: Pick<RecordIndex, "prune">;
  mempool: Pick<MempoolService, "prune">;
  preattested: Pick<PreattestationStore, "prune" | "pruneSaved">;
  attestations: Pick<AttestationStore, "prune">;
  reputationBook: Pick<ReputationBook, "pruneEvents">;
  logger: Logger;
}

/** Rows (or entries) each store lost in one pruning. */
export type Pruned = Record<
  "records" | "mempool" | "preattested" | "attestations" | "reputationEvents",
  number
>;

/** Every store a peer or a caller can add to, pruned by age and capped on one schedule. */
export class PruneService implements Startable {
  private readonly components: PruneServiceComponents;
  private readonly init: PruneServiceInit;
  private readonly log: Logger;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(components: PruneServiceComponents, init: PruneServiceInit) {
    this.components = components;
    this.init = init;
    this.log = components.logger.child("prune");
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.prune(), this.init.intervalMs ?? PRUNE_INTERVAL_MS);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Prunes every store by age (as of `now`) and to its cap; answers how many each lost. */
  prune(now = Date.now()): Pruned {
    const { index, mempool, preattested, attestations, reputationBook } = this.components;
    const removed = {
      records: index.prune(now),
      mempool: mempool.prune(now),
      preattested:
        preattested.prune(now - PREATTESTED_KEEP_MS) +
        preattested.pruneSaved(now - PREATTESTED_MAX_AGE_MS, MAX_PREATTESTED),
      attestations: attestations.prune(now - ATTESTATION_KEEP_MS, MAX_ATTESTATIONS),
      reputationEvents: reputationBook.pruneEvents(now - REPUTATION_EVENT_KEEP_MS, MAX_REPUTATION_EVENTS),
    };
    if (Object.values(removed).some((n) => n > 0)) this.log.debug("pruned", removed);
    return removed;
  }
}

/**
 * @example const pruning = pruneService({})({ index, mempool, preattested, attestations, reputationBook, logger })
 */
export function pruneService(
  init: PruneServiceInit = {},
): (components: PruneServiceComponents) => PruneService {
  return (components) => new PruneService(components, init);
}
