import type { ReceiptJson } from "@ncn/protocol";
import {
  createPublicClient,
  createWalletClient,
  http,
  type PublicClient,
  parseAbi,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { Config } from "../env.ts";
import type { BatchSettlement, ChainPort, EscrowInfo } from "./port.ts";

// Placeholder ABI fragments until the generated ABIs land.
const paymentAbi = parseAbi([
  "struct Escrow { address client; uint64 expiry; uint8 status; address gateway; uint96 amount; bytes32 subnetId; }",
  "struct Session { uint96 deposit; uint96 settled; uint64 expiry; address client; bool closed; address gateway; }",
  "function getEscrow(bytes32 requestId) view returns (Escrow)",
  "function getSession(bytes32 sessionId) view returns (Session)",
]);

class ViemChain implements ChainPort {
  readonly gateway: `0x${string}`;
  readonly #public: PublicClient;
  readonly #wallet: WalletClient;
  readonly #payment: `0x${string}`;

  constructor(config: Config) {
    const account = privateKeyToAccount(config.GATEWAY_PRIVATE_KEY as `0x${string}`);
    this.gateway = account.address;
    const transport = http(config.RPC_URL);
    this.#public = createPublicClient({ transport, cacheTime: 0 });
    this.#wallet = createWalletClient({ account, transport });
    this.#payment = config.PAYMENT_CONTRACT;
  }

  async readSession(sessionId: `0x${string}`) {
    const s = await this.#public.readContract({
      address: this.#payment,
      abi: paymentAbi,
      functionName: "getSession",
      args: [sessionId],
    });
    if (s.client === "0x0000000000000000000000000000000000000000") return null;
    return {
      client: s.client,
      gateway: s.gateway,
      deposit: s.deposit,
      settled: s.settled,
      expiry: Number(s.expiry),
    };
  }

  async readEscrow(requestKey: `0x${string}`): Promise<EscrowInfo | null> {
    const e = await this.#public.readContract({
      address: this.#payment,
      abi: paymentAbi,
      functionName: "getEscrow",
      args: [requestKey],
    });
    if (e.client === "0x0000000000000000000000000000000000000000") return null;
    return {
      client: e.client,
      subnetId: e.subnetId,
      gateway: e.gateway,
      amount: e.amount,
      expiry: Number(e.expiry),
      open: e.status === 1,
    };
  }

  async completeEscrow(_receipt: ReceiptJson, _sigs: `0x${string}`[]): Promise<`0x${string}`> {
    void this.#wallet;
    throw new Error("completeEscrow: waiting for generated ABIs");
  }

  async settleBatch(_batch: BatchSettlement): Promise<`0x${string}`> {
    throw new Error("settleBatch: waiting for generated ABIs");
  }
}

let cached: { config: Config; chain: ChainPort } | undefined;

/** The chain client for this isolate's configuration. */
export function chainOf(config: Config): ChainPort {
  if (cached?.config !== config) cached = { config, chain: new ViemChain(config) };
  return cached.chain;
}
