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
import type { ReceiptStore } from "../store/receipt-store.ts";
import type { AttestationSigner } from "./attestation-signer.ts";
import { validateBatch } from "./batch.ts";
import { type CompletionDeps, type SpotCheckPolicy, validateCompletion } from "./completion.ts";
import { validatePreprocess } from "./preprocess.ts";
import { validateSettlement } from "./settlement.ts";
import { SignerCache } from "./signer-cache.ts";
import { validateStream } from "./stream.ts";

export interface ValidationServiceInit {
  index: RecordIndex;
  reputation: ReputationBook;
  attestations: AttestationStore;
  receipts: ReceiptStore;
  signer?: AttestationSigner | undefined;
  payments?: PaymentReader | undefined;
  reexecutor?: Reexecutor | undefined;
  spotCheck: SpotCheckPolicy;
  onReputationEvent?: (event: ReputationEvent) => void;
  /**
   * Successes seen in stream mode: applied to this node's book only. Every validator
   * validates every stream batch itself, so relaying them would only make each node
   * re-apply what it already counted (at N times the messages).
   */
  onLocalReputationEvent?: (event: ReputationEvent) => void;
  /** Runs the store writes of a batch as one transaction (the node's SQLite database). */
  transaction?: <T>(run: () => T) => T;
  /** Called with every attestation this node signs (to gossip it). */
  onAttestation?: (response: AttestationResponse) => void;
  log: Logger;
}

/** The validator role of a node: preprocess, completion, batch and stream attestations. */
export class ValidationService {
  private readonly init: ValidationServiceInit;
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
  };

  constructor(init: ValidationServiceInit) {
    this.init = init;
  }

  get enabled(): boolean {
    return this.init.signer !== undefined && this.init.payments !== undefined;
  }

  get address(): `0x${string}` | undefined {
    return this.init.signer?.address;
  }

  private ready(): { signer: AttestationSigner; payments: PaymentReader } {
    const { signer, payments } = this.init;
    if (!signer) throw new UnavailableError("this node has no validator key");
    if (!payments) throw new UnavailableError("this node has no chain connection (rpcUrl, paymentContract)");
    return { signer, payments };
  }

  private completionDeps(signer: AttestationSigner, payments: PaymentReader): CompletionDeps {
    return {
      index: this.init.index,
      domain: payments.domain,
      signer,
      attestations: this.init.attestations,
      receipts: this.init.receipts,
      reexecutor: this.init.reexecutor,
      spotCheck: this.init.spotCheck,
      log: this.init.log,
      onSpotCheck: (passed) => {
        if (passed) this.stats.spotChecksPassed++;
        else this.stats.spotChecksFailed++;
      },
      onReputationEvent: (e) => this.init.onReputationEvent?.(e),
      ...(this.init.transaction ? { transaction: this.init.transaction } : {}),
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

  preprocess(req: PreprocessRequest): Promise<AttestationResponse> {
    return this.counted("preprocess", async () => {
      const { signer, payments } = this.ready();
      const res = await validatePreprocess(req, {
        index: this.init.index,
        reputation: this.init.reputation,
        payments,
        signer,
        attestations: this.init.attestations,
      });
      this.init.onAttestation?.(res);
      return res;
    });
  }

  completion(req: CompletionRequest): Promise<AttestationResponse> {
    return this.counted("completion", async () => {
      const { signer, payments } = this.ready();
      const res = await validateCompletion(req, this.completionDeps(signer, payments));
      this.init.onAttestation?.(res);
      return res;
    });
  }

  batch(req: BatchCompletionRequest): Promise<BatchCompletionResponse> {
    return this.counted("batch", async () => {
      const { signer, payments } = this.ready();
      return validateBatch(req, this.completionDeps(signer, payments));
    });
  }

  /** Stream mode: one session's batch of requests, payment and completion checked in one step. */
  stream(req: StreamBatchRequest): Promise<BatchCompletionResponse> {
    return this.counted("stream", async () => {
      const { signer, payments } = this.ready();
      return validateStream(req, {
        ...this.completionDeps(signer, payments),
        onReputationEvent: (e) =>
          e.kind === "success" && this.init.onLocalReputationEvent
            ? this.init.onLocalReputationEvent(e)
            : this.init.onReputationEvent?.(e),
        reputation: this.init.reputation,
        payments,
        signers: this.signers,
      });
    });
  }

  settlement(req: SettlementRequest): Promise<SettlementSignature> {
    return this.counted("settlement", async () => {
      const { signer, payments } = this.ready();
      return validateSettlement(req, { payments, signer, receipts: this.init.receipts });
    });
  }
}
