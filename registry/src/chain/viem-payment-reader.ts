import { ncnDomain } from "@ncn/protocol";
import { createPublicClient, http, type PublicClient, parseAbi } from "viem";
import { ChainReadError } from "../errors.ts";
import type { EscrowStatus, PaymentReader } from "./payment-reader.ts";

/** The view functions of `IInferencePayment` validation reads. */
export const inferencePaymentReadAbi = parseAbi([
  "struct Escrow { address client; uint64 expiry; uint8 status; address gateway; uint96 amount; bytes32 subnetId; }",
  "struct Session { uint96 deposit; uint96 settled; uint64 expiry; address client; bool closed; address gateway; }",
  "function getEscrow(bytes32 requestId) view returns (Escrow)",
  "function getSession(bytes32 sessionId) view returns (Session)",
  "function isBatchSettled(address gateway, bytes32 batchId) view returns (bool)",
]);

const STATUS: readonly EscrowStatus[] = ["none", "pending", "completed", "refunded"];
const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

export interface ViemPaymentReaderInit {
  rpcUrl: string;
  paymentContract: `0x${string}`;
  client?: PublicClient;
}

async function read<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    throw new ChainReadError(`cannot read ${what} from the chain`, { cause: e });
  }
}

/** Reads escrows, sessions and settled batches from `InferencePayment` over JSON-RPC. */
export async function viemPaymentReader(init: ViemPaymentReaderInit): Promise<PaymentReader> {
  const client = init.client ?? createPublicClient({ transport: http(init.rpcUrl), cacheTime: 0 });
  const address = init.paymentContract;
  const chainId = await read("the chain id", () => client.getChainId());
  return {
    domain: ncnDomain(chainId, address),
    async escrow(requestId) {
      const e = await read("an escrow", () =>
        client.readContract({
          address,
          abi: inferencePaymentReadAbi,
          functionName: "getEscrow",
          args: [requestId],
        }),
      );
      const status = STATUS[e.status] ?? "none";
      if (status === "none") return null;
      return {
        client: e.client.toLowerCase() as `0x${string}`,
        gateway: e.gateway.toLowerCase() as `0x${string}`,
        subnetId: e.subnetId.toLowerCase() as `0x${string}`,
        amount: e.amount,
        expiry: e.expiry,
        status,
      };
    },
    async session(sessionId) {
      const s = await read("a session", () =>
        client.readContract({
          address,
          abi: inferencePaymentReadAbi,
          functionName: "getSession",
          args: [sessionId],
        }),
      );
      if (s.client === ZERO_ADDRESS) return null;
      return {
        client: s.client.toLowerCase() as `0x${string}`,
        gateway: s.gateway.toLowerCase() as `0x${string}`,
        deposit: s.deposit,
        settled: s.settled,
        expiry: s.expiry,
        closed: s.closed,
      };
    },
    batchSettled: (gateway, batchId) =>
      read("a batch", () =>
        client.readContract({
          address,
          abi: inferencePaymentReadAbi,
          functionName: "isBatchSettled",
          args: [gateway, batchId],
        }),
      ),
    async now() {
      const block = await read("the latest block", () => client.getBlock({ blockTag: "latest" }));
      return block.timestamp;
    },
  };
}
