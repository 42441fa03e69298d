import type { Hex } from "viem";
import { getContractEvents } from "viem/actions";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

export interface ReadSessionSaltParameters {
  sessionId: Hex;
  /** First block to scan (default 0: the deployment's `blockNumber` is cheaper where it is known). */
  fromBlock?: bigint;
}

/** The salt, or null while no `SessionOpened` event names the session. */
export type ReadSessionSaltReturnType = Hex | null;

/**
 * The salt a session was opened with, read from its `SessionOpened` event. Whoever settles a
 * session needs it (`settleBatch` checks the session id against client, gateway and salt), and a
 * client may not have handed it over. A salt never changes: callers may cache it.
 *
 * @example
 * const salt = await readSessionSalt(client, contracts, { sessionId });
 */
export async function readSessionSalt(
  client: ReadClient,
  contracts: Pick<NcnContracts, "payment">,
  params: ReadSessionSaltParameters,
): Promise<ReadSessionSaltReturnType> {
  const logs = await getContractEvents(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    eventName: "SessionOpened",
    args: { sessionId: params.sessionId },
    fromBlock: params.fromBlock ?? 0n,
  });
  return logs[0]?.args.salt ?? null;
}
