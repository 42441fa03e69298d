import type { Address, Hex } from "viem";
import { getContractEvents } from "viem/actions";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

export interface ListClientSessionsParameters {
  client: Address;
  /** First block to scan (default 0: the deployment's `blockNumber` is cheaper where it is known). */
  fromBlock?: bigint;
}

/** One session as its `SessionOpened` event tells it (deposit and expiry as opened). */
export interface OpenedSession {
  sessionId: Hex;
  gateway: Address;
  salt: Hex;
  deposit: bigint;
  expiry: bigint;
}

export type ListClientSessionsReturnType = OpenedSession[];

/**
 * The sessions `client` opened, oldest first, from their `SessionOpened` events (the client is
 * an indexed topic, so the node filters them).
 *
 * @example
 * const sessions = await listClientSessions(client, contracts, { client: account.address });
 */
export async function listClientSessions(
  client: ReadClient,
  contracts: Pick<NcnContracts, "payment">,
  params: ListClientSessionsParameters,
): Promise<ListClientSessionsReturnType> {
  const logs = await getContractEvents(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    eventName: "SessionOpened",
    args: { client: params.client },
    fromBlock: params.fromBlock ?? 0n,
    strict: true,
  });
  return logs.map((log) => ({
    sessionId: log.args.sessionId,
    gateway: log.args.gateway,
    salt: log.args.salt,
    deposit: log.args.deposit,
    expiry: log.args.expiry,
  }));
}
