import {
  abandonBatch,
  ContractsError,
  completeEscrow,
  createNcnClient,
  EscrowStatus,
  type NcnContracts,
  readBatchStatus,
  readEscrow,
  readSession,
  readSessionSalt,
  readSessionSigner,
  revertOf,
  settleBatch,
  type WriteClient,
} from "@ncn/contracts/actions";
import { type ReceiptJson, receiptMessage } from "@ncn/protocol";
import { ContractFunctionRevertedError, BaseError as ViemBaseError } from "viem";
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

/** The gateway's chain port over the shared `@ncn/contracts` actions. */
class ViemChain implements ChainPort {
  readonly gateway: `0x${string}`;
  readonly #client: WriteClient;
  /** Only the payment contract is called; the actions take the addresses they need. */
  readonly #contracts: Pick<NcnContracts, "payment">;
  /** Salts never change: cache them per isolate. */
  readonly #salts = new Map<string, `0x${string}`>();
  /** One transaction at a time from this isolate keeps nonces in order. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(config: Config) {
    this.#client = createNcnClient({
      rpcUrl: config.RPC_URL,
      chainId: config.CHAIN_ID,
      account: config.GATEWAY_PRIVATE_KEY as `0x${string}`,
      pollingInterval: 50,
    });
    this.gateway = this.#client.account.address.toLowerCase() as `0x${string}`;
    this.#contracts = { payment: config.PAYMENT_CONTRACT };
  }

  async readSession(sessionId: `0x${string}`) {
    return await this.#read("readSession", async () => {
      const s = await readSession(this.#client, this.#contracts, sessionId);
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

  async readSessionSigner(sessionId: `0x${string}`): Promise<`0x${string}` | null> {
    return await this.#read("readSessionSigner", async () => {
      const signer = await readSessionSigner(this.#client, this.#contracts, sessionId);
      return signer === null ? null : (signer.toLowerCase() as `0x${string}`);
    });
  }

  async sessionSalt(sessionId: `0x${string}`): Promise<`0x${string}` | null> {
    return await this.#read("sessionSalt", async () => {
      const cached = this.#salts.get(sessionId);
      if (cached) return cached;
      const salt = await readSessionSalt(this.#client, this.#contracts, { sessionId });
      if (salt !== null) this.#salts.set(sessionId, salt);
      return salt;
    });
  }

  async readEscrow(requestKey: `0x${string}`): Promise<EscrowInfo | null> {
    return await this.#read("readEscrow", async () => {
      const e = await readEscrow(this.#client, this.#contracts, requestKey);
      if (e.client === ZERO) return null;
      return {
        client: e.client,
        subnetId: e.subnetId,
        gateway: e.gateway,
        amount: e.amount,
        expiry: Number(e.expiry),
        open: e.status === EscrowStatus.Pending,
      };
    });
  }

  async completeEscrow(receipt: ReceiptJson, signatures: `0x${string}`[]): Promise<`0x${string}`> {
    return await this.#send(async () => {
      const mined = await completeEscrow(this.#client, this.#contracts, {
        receipt: receiptMessage(receipt),
        validatorSignatures: signatures,
      });
      return mined.transactionHash;
    });
  }

  async settleBatch(batch: BatchSettlement): Promise<`0x${string}`> {
    return await this.#send(async () => {
      const { receipt } = await settleBatch(this.#client, this.#contracts, {
        batch: {
          batchId: batch.batchId,
          gateway: this.gateway,
          receiptsRoot: batch.receiptsRoot,
          vouchers: batch.vouchers,
          payouts: batch.payouts,
        },
        validatorSignatures: batch.validatorSignatures,
      });
      return receipt.transactionHash;
    });
  }

  async batchStatus(batchId: `0x${string}`): Promise<BatchStatus> {
    return await this.#read("batchStatus", () =>
      readBatchStatus(this.#client, this.#contracts, { gateway: this.gateway, batchId }),
    );
  }

  async abandonBatch(batchId: `0x${string}`): Promise<`0x${string}`> {
    return await this.#send(async () => {
      const { receipt } = await abandonBatch(this.#client, this.#contracts, { batchId });
      return receipt.transactionHash;
    });
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
        throw refusalOf(e) ?? unavailable("transaction", e);
      });
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * The contract refused the transaction, in its simulation or once mined: sending it again as it
 * is will be refused again. Only the ABI's error name is told; a revert string or the node's
 * text is not repeated.
 */
function refusalOf(e: unknown): ChainRevertedError | undefined {
  if (e instanceof ContractsError && e.reason === "TRANSACTION_REVERTED") {
    return new ChainRevertedError("CHAIN_ERROR", e.shortMessage);
  }
  const reverted =
    e instanceof ViemBaseError ? e.walk((x) => x instanceof ContractFunctionRevertedError) : null;
  if (!(reverted instanceof ContractFunctionRevertedError)) return undefined;
  const name = revertOf(e)?.errorName ?? null;
  log.warn("transaction refused by the contract", { error: reverted.shortMessage });
  return new ChainRevertedError("CHAIN_ERROR", `the contract refused: ${name ?? "reverted"}`, {
    details: { error: name },
  });
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
