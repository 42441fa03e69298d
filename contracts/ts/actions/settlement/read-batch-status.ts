import type { Address, Hex } from "viem";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { isBatchSettled } from "./is-batch-settled.ts";
import { readBatchAbandoned } from "./read-batch-abandoned.ts";

export interface ReadBatchStatusParameters {
  gateway: Address;
  batchId: Hex;
}

/** Where a gateway's batch id stands: spent by a settlement, spent by abandoning it, or free. */
export type BatchStatus = "settled" | "abandoned" | "open";

/**
 * Whether `gateway` settled `batchId`, abandoned it (see `abandonBatch`) or may still use it.
 * An abandoned id also reads as spent in `isBatchSettled`; this tells the two apart in one call.
 *
 * @example
 * if ((await readBatchStatus(client, contracts, { gateway, batchId })) === "open") await abandonBatch(...);
 */
export async function readBatchStatus(
  client: ReadClient,
  contracts: Pick<NcnContracts, "payment">,
  params: ReadBatchStatusParameters,
): Promise<BatchStatus> {
  const [spent, abandoned] = await Promise.all([
    isBatchSettled(client, contracts, params),
    readBatchAbandoned(client, contracts, params),
  ]);
  return abandoned ? "abandoned" : spent ? "settled" : "open";
}
