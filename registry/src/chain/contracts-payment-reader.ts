import {
  createNcnReadClient,
  EscrowStatus,
  isBatchSettled,
  paymentDomain,
  type ReadClient,
  readBatchAbandoned,
  readEscrow,
  readSession,
  readSessionSigner,
} from "@ncn/contracts/actions";
import { createPublicClient, http } from "viem";
import { getBlock, getChainId } from "viem/actions";
import { ChainReadError } from "../errors.ts";
import type { EscrowState, PaymentReader } from "./payment-reader.ts";

const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

const STATUS: Record<number, EscrowState["status"]> = {
  [EscrowStatus.None]: "none",
  [EscrowStatus.Pending]: "pending",
  [EscrowStatus.Completed]: "completed",
  [EscrowStatus.Refunded]: "refunded",
};

async function read<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    throw new ChainReadError(`cannot read ${what} from the chain`, { cause: e });
  }
}

const lower = (a: string) => a.toLowerCase() as `0x${string}`;

export interface ContractsPaymentReaderInit {
  rpcUrl: string;
  paymentContract: `0x${string}`;
}

/** Reads escrows, sessions and settled batches from `InferencePayment` with the @ncn/contracts bindings. */
export async function contractsPaymentReader(init: ContractsPaymentReaderInit): Promise<PaymentReader> {
  const probe = createPublicClient({ transport: http(init.rpcUrl), cacheTime: 0 });
  const chainId = await read("the chain id", () => getChainId(probe));
  const client: ReadClient = createNcnReadClient({ rpcUrl: init.rpcUrl, chainId });
  const contracts = { payment: init.paymentContract };
  return {
    domain: paymentDomain(chainId, init.paymentContract),
    async escrow(requestId) {
      const e = await read("an escrow", () => readEscrow(client, contracts, requestId));
      const status = STATUS[e.status] ?? "none";
      if (status === "none") return null;
      return {
        client: lower(e.client),
        gateway: lower(e.gateway),
        subnetId: lower(e.subnetId),
        amount: e.amount,
        expiry: e.expiry,
        status,
      };
    },
    async session(sessionId) {
      // Read together: a delegate's vouchers are judged against the session as it is now.
      const [s, signer] = await read("a session", () =>
        Promise.all([
          readSession(client, contracts, sessionId),
          readSessionSigner(client, contracts, sessionId),
        ]),
      );
      if (s.client === ZERO_ADDRESS) return null;
      const state = {
        client: lower(s.client),
        gateway: lower(s.gateway),
        deposit: s.deposit,
        settled: s.settled,
        expiry: s.expiry,
        closed: s.closed,
      };
      return signer ? { ...state, signer: lower(signer) } : state;
    },
    batchSettled: (gateway, batchId) =>
      read("a settled batch", () => isBatchSettled(client, contracts, { gateway, batchId })),
    batchAbandoned: (gateway, batchId) =>
      read("an abandoned batch", () => readBatchAbandoned(client, contracts, { gateway, batchId })),
    async now() {
      const block = await read("the latest block", () => getBlock(client, { blockTag: "latest" }));
      return block.timestamp;
    },
  };
}
