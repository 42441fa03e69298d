import { inferencePaymentAbi } from "@ncn/contracts/abi";
import { settlementBatchArgs } from "@ncn/contracts/settlement";
import { type ReceiptJson, receiptMessage } from "@ncn/protocol";
import {
  type Account,
  type Chain,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  http,
  type PublicClient,
  type Transport,
  BaseError as ViemBaseError,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { Config } from "../env.ts";
import { logger } from "../log.ts";
import {
  type BatchSettlement,
  type BatchStatus,
  type ChainPort,
  ChainRevertedError,
  ChainUnavailableError,
  type EscrowInfo,
} from "./port.ts";

const log = logger("gateway:chain");

const ZERO = "0x0000000000000000000000000000000000000000";
/** EscrowStatus.Pending in InferencePayment. */
const ESCROW_PENDING = 1;

class ViemChain implements ChainPort {
  readonly gateway: `0x${string}`;
  readonly #public: PublicClient;
  readonly #wallet: WalletClient<Transport, Chain, Account>;
  readonly #payment: `0x${string}`;
  /** Salts never change: cache them per isolate. */
  readonly #salts = new Map<string, `0x${string}`>();
  /** One transaction at a time from this isolate keeps nonces in order. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(config: Config) {
    const account = privateKeyToAccount(config.GATEWAY_PRIVATE_KEY as `0x${string}`);
    this.gateway = account.address.toLowerCase() as `0x${string}`;
    const chain: Chain = {
      id: config.CHAIN_ID,
      name: `ncn-${config.CHAIN_ID}`,
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [config.RPC_URL] } },
    };
    const transport = http(config.RPC_URL);
    this.#public = createPublicClient({ chain, transport, cacheTime: 0, pollingInterval: 50 });
    this.#wallet = createWalletClient({ account, chain, transport });
    this.#payment = config.PAYMENT_CONTRACT;
  }

  async readSession(sessionId: `0x${string}`) {
    return await this.#read("readSession", async () => {
      const s = await this.#public.readContract({
        address: this.#payment,
        abi: inferencePaymentAbi,
        functionName: "getSession",
        args: [sessionId],
      });
      if (s.client === ZERO) return null;
      return {
        client: s.client,
        gateway: s.gateway,
        deposit: s.deposit,
        settled: s.settled,
        expiry: Number(s.expiry),
        closed: s.closed,
      };
    });
  }

  async sessionSalt(sessionId: `0x${string}`): Promise<`0x${string}` | null> {
    return await this.#read("sessionSalt", async () => {
      const cached = this.#salts.get(sessionId);
      if (cached) return cached;
      const logs = await this.#public.getContractEvents({
        address: this.#payment,
        abi: inferencePaymentAbi,
        eventName: "SessionOpened",
        args: { sessionId },
        fromBlock: 0n,
      });
      const salt = logs[0]?.args.salt;
      if (!salt) return null;
      this.#salts.set(sessionId, salt);
      return salt;
    });
  }

  async readEscrow(requestKey: `0x${string}`): Promise<EscrowInfo | null> {
    return await this.#read("readEscrow", async () => {
      const e = await this.#public.readContract({
        address: this.#payment,
        abi: inferencePaymentAbi,
        functionName: "getEscrow",
        args: [requestKey],
      });
      if (e.client === ZERO) return null;
      return {
        client: e.client,
        subnetId: e.subnetId,
        gateway: e.gateway,
        amount: e.amount,
        expiry: Number(e.expiry),
        open: e.status === ESCROW_PENDING,
      };
    });
  }

  async completeEscrow(receipt: ReceiptJson, signatures: `0x${string}`[]): Promise<`0x${string}`> {
    return await this.#send(async () => {
      const hash = await this.#wallet.writeContract({
        address: this.#payment,
        abi: inferencePaymentAbi,
        functionName: "completeInferenceRequest",
        args: [receiptMessage(receipt), signatures],
      });
      await this.#mined(hash);
      return hash;
    });
  }

  async settleBatch(batch: BatchSettlement): Promise<`0x${string}`> {
    return await this.#send(async () => {
      const args = settlementBatchArgs({
        batchId: batch.batchId,
        gateway: this.gateway,
        receiptsRoot: batch.receiptsRoot,
        vouchers: batch.vouchers,
        payouts: batch.payouts,
      });
      const hash = await this.#wallet.writeContract({
        address: this.#payment,
        abi: inferencePaymentAbi,
        functionName: "settleBatch",
        args: [args, batch.validatorSignatures],
      });
      await this.#mined(hash);
      return hash;
    });
  }

  async batchStatus(batchId: `0x${string}`): Promise<BatchStatus> {
    return await this.#read("batchStatus", async () => {
      const [spent, abandoned] = await Promise.all([
        this.#public.readContract({
          address: this.#payment,
          abi: inferencePaymentAbi,
          functionName: "isBatchSettled",
          args: [this.gateway, batchId],
        }),
        this.#public.readContract({
          address: this.#payment,
          abi: inferencePaymentAbi,
          functionName: "batchAbandoned",
          args: [this.gateway, batchId],
        }),
      ]);
      return abandoned ? "abandoned" : spent ? "settled" : "open";
    });
  }

  async abandonBatch(batchId: `0x${string}`): Promise<`0x${string}`> {
    return await this.#send(async () => {
      const hash = await this.#wallet.writeContract({
        address: this.#payment,
        abi: inferencePaymentAbi,
        functionName: "abandonBatch",
        args: [batchId],
      });
      await this.#mined(hash);
      return hash;
    });
  }

  async #mined(hash: `0x${string}`): Promise<void> {
    const r = await this.#public.waitForTransactionReceipt({ hash, pollingInterval: 50, timeout: 60_000 });
    if (r.status !== "success") throw new ChainRevertedError("CHAIN_ERROR", `transaction ${hash} reverted`);
  }

  /** A read whose failure is told as a ChainUnavailableError; the node's own message is logged. */
  async #read<T>(what: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (e) {
      throw unavailable(what, e);
    }
  }

  /** One transaction at a time; a contract's refusal comes back as a ChainRevertedError. */
  #send<T>(body: () => Promise<T>): Promise<T> {
    const fn = () =>
      body().catch((e: unknown) => {
        const reverted =
          e instanceof ViemBaseError ? e.walk((x) => x instanceof ContractFunctionRevertedError) : null;
        if (reverted instanceof ContractFunctionRevertedError) {
          // Only the ABI's error name: a revert string or the node's text is not repeated.
          const name = reverted.data?.errorName ?? null;
          log.warn("transaction refused by the contract", { error: reverted.shortMessage });
          throw new ChainRevertedError("CHAIN_ERROR", `the contract refused: ${name ?? "reverted"}`, {
            details: { error: name },
          });
        }
        if (e instanceof ChainRevertedError) throw e;
        throw unavailable("transaction", e);
      });
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

function unavailable(what: string, e: unknown): ChainUnavailableError {
  log.warn("chain call failed", { what, error: e instanceof Error ? e.message : String(e) });
  return new ChainUnavailableError({ cause: e });
}

let cached: { config: Config; chain: ChainPort } | undefined;

/** The chain client for this isolate's configuration. */
export function chainOf(config: Config): ChainPort {
  if (cached?.config !== config) cached = { config, chain: new ViemChain(config) };
  return cached.chain;
}
