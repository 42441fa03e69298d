import type { Address, Hex } from "viem";
import { readContract } from "viem/actions";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/** On-chain state of a session. */
export interface SessionState {
  deposit: bigint;
  settled: bigint;
  expiry: bigint;
  client: Address;
  closed: boolean;
  gateway: Address;
}

/** Reads a session (client is the zero address when it does not exist). */
export async function readSession(
  client: ReadClient,
  contracts: Pick<NcnContracts, "payment">,
  sessionId: Hex,
): Promise<SessionState> {
  const s = await readContract(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "getSession",
    args: [sessionId],
  });
  return {
    deposit: s.deposit,
    settled: s.settled,
    expiry: s.expiry,
    client: s.client,
    closed: s.closed,
    gateway: s.gateway,
  };
}
