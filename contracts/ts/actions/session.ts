import {
  type Address,
  encodeAbiParameters,
  type Hex,
  keccak256,
  parseEventLogs,
  type TransactionReceipt,
  toHex,
} from "viem";
import { readContract } from "viem/actions";
import { inferencePaymentAbi } from "../abi/inference-payment.ts";
import { type ReadClient, type WriteClient, writeAndConfirm } from "../client.ts";
import type { NcnContracts } from "../deployment.ts";
import { ContractsError } from "../errors.ts";
import { type Approval, approveTokens, authorizeDeposit } from "./token.ts";

/** On-chain state of a session. */
export interface SessionState {
  deposit: bigint;
  settled: bigint;
  expiry: bigint;
  client: Address;
  closed: boolean;
  gateway: Address;
}

/** Session id: keccak256(abi.encode(client, gateway, salt)), the same as InferencePayment.sessionIdOf. */
export function sessionIdOf(client: Address, gateway: Address, salt: Hex): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: "address" }, { type: "address" }, { type: "bytes32" }],
      [client, gateway, salt],
    ),
  );
}

/**
 * A fresh salt: 8 random bytes in a 32-byte word. Unique enough per (client, gateway), and the
 * leading zero bytes make every settlement of the session cheaper in calldata.
 */
export function randomSalt(): Hex {
  return toHex(crypto.getRandomValues(new Uint8Array(8)), { size: 32 });
}

export interface OpenSessionParameters {
  gateway: Address;
  amount: bigint;
  /** Unix seconds. */
  expiry: bigint;
  /** Defaults to {@link randomSalt}. */
  salt?: Hex;
  /** Default "approve". */
  approval?: Approval;
}

/**
 * Opens a session funded from the client's account.
 *
 * @example
 * const { sessionId, salt } = await openSession(client, contracts, { gateway, amount: 10n ** 18n, expiry });
 */
export async function openSession(
  client: WriteClient,
  contracts: NcnContracts,
  params: OpenSessionParameters,
): Promise<{ sessionId: Hex; salt: Hex; receipt: TransactionReceipt }> {
  const salt = params.salt ?? randomSalt();
  const permit = await authorizeDeposit(client, contracts, {
    approval: params.approval ?? "approve",
    spender: contracts.payment,
    amount: params.amount,
    deadline: params.expiry,
  });
  const receipt = permit
    ? await writeAndConfirm(client, {
        address: contracts.payment,
        abi: inferencePaymentAbi,
        functionName: "openSessionWithPermit",
        args: [
          params.gateway,
          salt,
          params.amount,
          params.expiry,
          permit.deadline,
          permit.v,
          permit.r,
          permit.s,
        ],
      })
    : await writeAndConfirm(client, {
        address: contracts.payment,
        abi: inferencePaymentAbi,
        functionName: "openSession",
        args: [params.gateway, salt, params.amount, params.expiry],
      });
  return { sessionId: sessionIdOf(client.account.address, params.gateway, salt), salt, receipt };
}

/**
 * Adds funds to a session and/or extends its expiry (0n or omitted keeps it). Client only. There
 * is no permit variant on chain, so the allowance comes from an approve (default) or is in place.
 */
export async function topUpSession(
  client: WriteClient,
  contracts: NcnContracts,
  params: { sessionId: Hex; amount: bigint; expiry?: bigint; approval?: Exclude<Approval, "permit"> },
): Promise<TransactionReceipt> {
  if ((params.approval ?? "approve") === "approve" && params.amount > 0n) {
    await approveTokens(client, contracts, { spender: contracts.payment, amount: params.amount });
  }
  return writeAndConfirm(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "topUpSession",
    args: [params.sessionId, params.amount, params.expiry ?? 0n],
  });
}

/** Closes an expired session (after the settlement grace) and returns the unspent deposit to its client. */
export async function closeSession(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment">,
  sessionId: Hex,
): Promise<{ refund: bigint; receipt: TransactionReceipt }> {
  const receipt = await writeAndConfirm(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "closeSession",
    args: [sessionId],
  });
  const [log] = parseEventLogs({ abi: inferencePaymentAbi, eventName: "SessionClosed", logs: receipt.logs });
  if (!log)
    throw new ContractsError("EVENT_NOT_FOUND", "SessionClosed not emitted", {
      details: { hash: receipt.transactionHash },
    });
  return { refund: log.args.refund, receipt };
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
