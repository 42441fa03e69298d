import type {
  AttestationResponse,
  BatchCompletionRequest,
  BatchCompletionResponse,
  CompletionRequest,
  PreprocessRequest,
  ReputationEvent,
  SettlementRequest,
  SettlementSignature,
  StreamBatchRequest,
} from "@ncn/protocol";
import type { PaymentReader } from "../chain/payment-reader.ts";
import { UnavailableError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { RecordIndex } from "../records/record-index.ts";
import type { Reexecutor } from "../reexec/reexecutor.ts";
import type { ReputationBook } from "../reputation/reputation-book.ts";
import type { AttestationStore } from "../store/attestation-store.ts";
import type { CompletionStore } from "../store/completion-store.ts";
import type { PreattestationStore } from "../store/preattestation-store.ts";
import type { ReceiptStore } from "../store/receipt-store.ts";
import type { AttestationSigner } from "./attestation-signer.ts";
import { validateBatch } from "./batch.ts";
import { type CompletionDeps, validateCompletion } from "./completion.ts";
import { validatePreprocess } from "./preprocess.ts";
import { validateSettlement } from "./settlement.ts";
import { SignerCache } from "./signer-cache.ts";
import type { SpotCheckPolicy } from "./spot-check.ts";
import { validateStream } from "./stream.ts";

export interface ValidationServiceInit {
  spotCheck: SpotCheckPolicy;
}

/** Where the events this node derives from its validations go (the reputation service). */
export interface ReputationRecorder {
  record(event: ReputationEvent): void;
  /**
   * Successes seen in stream mode: applied to this node's book only. Every validator
   * validates every stream batch itself, so relaying them would only make each node
   * re-apply what it already counted (at N times the messages).
   */
  recordLocalSuccesses(events: readonly ReputationEvent[]): void;
}

/** The parts of the node this service uses. */
export interface ValidationServiceComponents {
  index: RecordIndex;
  reputationBook: ReputationBook;
  attestations: AttestationStore;
  receipts: ReceiptStore;
  preattested: PreattestationStore;
  completions: CompletionStore;
  signer?: AttestationSigner | undefined;
  payments?: PaymentReader | undefined;
  reexecutor?: Reexecutor | undefined;
  reputation?: ReputationRecorder | undefined;
  /** Runs the store writes of a batch as one transaction (the node's SQLite database). */
  transaction?: (<T>(run: () => T) => T) | undefined;
  logger: Logger;
}

/** Called with every attestation this node signs (the mempool gossips it). */
export type AttestationListener = (response: AttestationResponse) => void;

/**
 * The validator role of a node: preprocess, completion, batch, stream and settlement
 * attestations. Every call names the authenticated gateway that asked (`caller`).
 */
export class ValidationService {
  private readonly components: ValidationServiceComponents;
  private readonly init: ValidationServiceInit;
  private readonly log: Logger;
  private readonly attestationListeners = new Set<AttestationListener>();
  /** Vouchers and agent batches already recovered (a stream's voucher recurs on every call). */
  private readonly signers = new SignerCache();
  readonly stats = {
    preprocess: 0,
    completion: 0,
    batch: 0,
    stream: 0,
    settlement: 0,
    refused: 0,
    spotChecksPassed: 0,
    spotChecksFailed: 0,
    /** Sampled for a spot check but not re-executable here (runtime, task kind, or a failed run). */
    spotChecksUnchecked: 0,
  };

  constructor(components: ValidationServiceComponents, init: ValidationServiceInit) {
    this.components = components;
    this.init = init;
    this.log = components.logger.child("validation");
  }

  /** Calls `listener` with every attestation signed from now on; returns what removes it. */
  onAttestation(listener: AttestationListener): () => void {
    this.attestationListeners.add(listener);
    return () => this.attestationListeners.delete(listener);
  }

  private attested(response: AttestationResponse): void {
    for (const listener of this.attestationListeners) listener(response);
  }

  get enabled(): boolean {
    return this.components.signer !== undefined && this.components.payments !== undefined;
  }

  get address(): `0x${string}` | undefined {
    return this.components.signer?.address;
  }

  private ready(): { signer: AttestationSigner; payments: PaymentReader } {
    const { signer, payments } = this.components;
    if (!signer) throw new UnavailableError("this node has no validator key");
    if (!payments) throw new UnavailableError("this node has no chain connection (rpcUrl, paymentContract)");
    return { signer, payments };
  }

  private completionDeps(signer: AttestationSigner, payments: PaymentReader): CompletionDeps {
    return {
      index: this.components.index,
      domain: payments.domain,
      signer,
      attestations: this.components.attestations,
      receipts: this.components.receipts,
      completions: this.components.completions,
      preattested: this.components.preattested,
      reputation: this.components.reputationBook,
      reexecutor: this.components.reexecutor,
      spotCheck: this.init.spotCheck,
      log: this.log,
      onSpotCheck: (outcome) => {
        if (outcome === "passed") this.stats.spotChecksPassed++;
        else if (outcome === "failed") this.stats.spotChecksFailed++;
        else this.stats.spotChecksUnchecked++;
      },
      onReputationEvent: (e) => this.components.reputation?.record(e),
      ...(this.components.transaction ? { transaction: this.components.transaction } : {}),
    };
  }

  private async counted<T>(
    kind: "preprocess" | "completion" | "batch" | "stream" | "settlement",
    run: () => Promise<T>,
  ): Promise<T> {
    try {
      const out = await run();
      this.stats[kind]++;
      return out;
    } catch (e) {
      this.stats.refused++;
      throw e;
    }
  }

  preprocess(req: PreprocessRequest, caller: `0x${string}`): Promise<AttestationResponse> {
    return this.counted("preprocess", async () => {
      const { signer, payments } = this.ready();
      const res = await validatePreprocess(
        req,
        {
          index: this.components.index,
          reputation: this.components.reputationBook,
          payments,
          signer,
          attestations: this.components.attestations,
          preattested: this.components.preattested,
        },
        caller,
      );
      this.attested(res);
      return res;
    });
  }

  completion(req: CompletionRequest, caller: `0x${string}`): Promise<AttestationResponse> {
    return this.counted("completion", async () => {
      const { signer, payments } = this.ready();
      const res = await validateCompletion(req, this.completionDeps(signer, payments), caller);
      this.attested(res);
      return res;
    });
  }

  batch(req: BatchCompletionRequest, caller: `0x${string}`): Promise<BatchCompletionResponse> {
    return this.counted("batch", async () => {
      const { signer, payments } = this.ready();
      return validateBatch(req, this.completionDeps(signer, payments), caller);
    });
  }

  /** Stream mode: one session's batch of requests, payment and completion checked in one step. */
  stream(req: StreamBatchRequest, caller: `0x${string}`): Promise<BatchCompletionResponse> {
    return this.counted("stream", async () => {
      const { signer, payments } = this.ready();
      const reputation = this.components.reputation;
      return validateStream(
        req,
        {
          ...this.completionDeps(signer, payments),
          ...(reputation ? { onLocalSuccesses: (events) => reputation.recordLocalSuccesses(events) } : {}),
          payments,
          signers: this.signers,
        },
        caller,
      );
    });
  }

  settlement(req: SettlementRequest, caller: `0x${string}`): Promise<SettlementSignature> {
    return this.counted("settlement", async () => {
      const { signer, payments } = this.ready();
      return validateSettlement(req, { payments, signer, receipts: this.components.receipts }, caller);
    });
  }
}

/**
 * @example const validation = validationService({ spotCheck })({ index, reputationBook, ...stores, logger })
 */
export function validationService(
  init: ValidationServiceInit,
): (components: ValidationServiceComponents) => ValidationService {
  return (components) => new ValidationService(components, init);
}
