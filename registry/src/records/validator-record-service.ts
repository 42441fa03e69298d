import type { Startable } from "@libp2p/interface";
import { recordSigningText, type SignedRecord, type UnsignedRecord } from "@ncn/protocol";
import type { ValidatorSetReader } from "../chain/validator-set.ts";
import type { AttestationSigner } from "../validation/attestation-signer.ts";
import type { RecordIndex } from "./record-index.ts";

export interface ValidatorRecordInit {
  /** The URL gateways reach this node at; the API server's own by default. */
  publicUrl?: string | undefined;
}

/** The parts of the node this service uses. */
export interface ValidatorRecordComponents {
  index: Pick<RecordIndex, "get" | "upsert">;
  /** Without a key the node is no validator and has no record to publish. */
  signer?: AttestationSigner | undefined;
  /** The stake the record states; 0 without one. */
  validatorSet?: Pick<ValidatorSetReader, "stakeOf"> | undefined;
  libp2p: { readonly peerId: { toString(): string } };
  api: { readonly url: string };
}

/**
 * Publishes this node's validator record (its address, peer id, URL and stake) as one of
 * its own records when it starts, so the republish job puts it into the DHT. Its sequence
 * number is the time, and past the last one this node signed.
 */
export class ValidatorRecordService implements Startable {
  private readonly components: ValidatorRecordComponents;
  private readonly init: ValidatorRecordInit;

  constructor(components: ValidatorRecordComponents, init: ValidatorRecordInit) {
    this.components = components;
    this.init = init;
  }

  async start(): Promise<void> {
    const { index, signer, validatorSet, libp2p, api } = this.components;
    if (!signer) return;
    const previous = index.get("validator", signer.address)?.record;
    const unsigned = {
      kind: "validator",
      key: signer.address,
      seq: Math.max((previous?.seq ?? 0) + 1, Date.now()),
      owner: signer.address,
      body: {
        address: signer.address,
        peerId: libp2p.peerId.toString(),
        url: this.init.publicUrl ?? api.url,
        stake: (await validatorSet?.stakeOf(signer.address).catch(() => 0n))?.toString() ?? "0",
      },
    } as UnsignedRecord;
    const signature = await signer.signMessage(recordSigningText(unsigned));
    index.upsert({ ...unsigned, signature } as SignedRecord, { own: true });
  }

  stop(): void {
    // The record stays in the index: it is this node's, and outlives a restart.
  }
}

/**
 * @example const validatorRecord = validatorRecordService({ publicUrl })({ index, signer, libp2p, api })
 */
export function validatorRecordService(
  init: ValidatorRecordInit,
): (components: ValidatorRecordComponents) => ValidatorRecordService {
  return (components) => new ValidatorRecordService(components, init);
}
