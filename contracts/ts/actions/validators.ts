import type { Address, Hex, TransactionReceipt } from "viem";
import { readContract } from "viem/actions";
import { validatorRegistryAbi } from "../abi/validator-registry.ts";
import { type ReadClient, type WriteClient, writeAndConfirm } from "../client.ts";
import type { NcnContracts } from "../deployment.ts";
import { type Approval, authorizeDeposit } from "./token.ts";

/** Validator status as stored on chain. */
export const ValidatorStatus = { None: 0, Active: 1, Inactive: 2, Unbonding: 3 } as const;
export type ValidatorStatus = (typeof ValidatorStatus)[keyof typeof ValidatorStatus];

/** Offences, in the order of the contract's enum. */
export const Offence = {
  DoubleSign: 0,
  InvalidSignature: 1,
  InvalidResult: 2,
  Collusion: 3,
  Downtime: 4,
} as const;
export type Offence = (typeof Offence)[keyof typeof Offence];

export interface ValidatorState {
  stake: bigint;
  unbondingEnd: bigint;
  status: ValidatorStatus;
  index: number;
  jailed: boolean;
}

export interface ValidatorSet {
  /** Active validator keys (N = length). */
  validators: Address[];
  /**
   * Distinct active signatures an attestation needs now: max(configured M, floor(N/2) + 1), so it
   * grows with the set (the contract's `requiredAttestations`).
   */
  threshold: number;
  maxValidators: number;
  minStake: bigint;
}

/** Registers the client's account as a validator with `stake` NCN and joins the active set. */
export async function registerValidator(
  client: WriteClient,
  contracts: Pick<NcnContracts, "token" | "registry">,
  params: { stake: bigint; approval?: Approval },
): Promise<TransactionReceipt> {
  const permit = await authorizeDeposit(client, contracts, {
    approval: params.approval ?? "approve",
    spender: contracts.registry,
    amount: params.stake,
    deadline: BigInt(Math.floor(Date.now() / 1000) + 3600),
  });
  return permit
    ? writeAndConfirm(client, {
        address: contracts.registry,
        abi: validatorRegistryAbi,
        functionName: "registerWithPermit",
        args: [params.stake, permit.deadline, permit.v, permit.r, permit.s],
      })
    : writeAndConfirm(client, {
        address: contracts.registry,
        abi: validatorRegistryAbi,
        functionName: "register",
        args: [params.stake],
      });
}

/** Active set, the attestations needed, maximum N and minimum stake, read with parallel calls. */
export async function readValidatorSet(
  client: ReadClient,
  contracts: Pick<NcnContracts, "registry">,
): Promise<ValidatorSet> {
  const address = contracts.registry;
  const abi = validatorRegistryAbi;
  const [validators, required, maxValidators, minStake] = await Promise.all([
    readContract(client, { address, abi, functionName: "activeValidators" }),
    readContract(client, { address, abi, functionName: "requiredAttestations" }),
    readContract(client, { address, abi, functionName: "maxValidators" }),
    readContract(client, { address, abi, functionName: "minStake" }),
  ]);
  return { validators: [...validators], threshold: Number(required), maxValidators, minStake };
}

/** State of one validator key. */
export async function readValidator(
  client: ReadClient,
  contracts: Pick<NcnContracts, "registry">,
  validator: Address,
): Promise<ValidatorState> {
  const v = await readContract(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "getValidator",
    args: [validator],
  });
  return {
    stake: v.stake,
    unbondingEnd: v.unbondingEnd,
    status: v.status as ValidatorStatus,
    index: v.index,
    jailed: v.jailed,
  };
}

/**
 * Counts the distinct active validators that signed `digest` and compares with the threshold,
 * exactly as the contracts do when they accept an attestation.
 */
export async function verifyAttestations(
  client: ReadClient,
  contracts: Pick<NcnContracts, "registry">,
  params: { digest: Hex; signatures: readonly Hex[] },
): Promise<{ ok: boolean; count: number; threshold: number }> {
  const [count, required] = await Promise.all([
    readContract(client, {
      address: contracts.registry,
      abi: validatorRegistryAbi,
      functionName: "countAttestations",
      args: [params.digest, params.signatures],
    }),
    readContract(client, {
      address: contracts.registry,
      abi: validatorRegistryAbi,
      functionName: "requiredAttestations",
    }),
  ]);
  return { ok: count >= required, count: Number(count), threshold: Number(required) };
}

/** Sets the configured threshold M (governance); a majority of the active set is needed whatever M is. */
export async function setThreshold(
  client: WriteClient,
  contracts: Pick<NcnContracts, "registry">,
  threshold: number,
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "setThreshold",
    args: [threshold],
  });
}

/** Leaves the active set; the stake can be withdrawn after the unbonding delay. */
export async function beginUnbonding(
  client: WriteClient,
  contracts: Pick<NcnContracts, "registry">,
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "beginUnbonding",
  });
}

/** Takes the stake back after unbonding. */
export async function withdrawStake(
  client: WriteClient,
  contracts: Pick<NcnContracts, "registry">,
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "withdrawStake",
  });
}

/** One completion attestation (phase 1) offered as double-sign evidence. */
export interface AttestationEvidence {
  subject: Hex;
  outputHash: Hex;
  signature: Hex;
}

/**
 * Reports two different completion attestations (subject or output hash differ) of one validator for
 * one request id; the sender earns a reward. Preprocess attestations are never evidence.
 */
export async function reportDoubleSign(
  client: WriteClient,
  contracts: Pick<NcnContracts, "registry">,
  params: { validator: Address; requestId: Hex; a: AttestationEvidence; b: AttestationEvidence },
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "reportDoubleSign",
    args: [params.validator, params.requestId, params.a, params.b],
  });
}

/** Governance slash for an offence proven off-chain. */
export async function slashValidator(
  client: WriteClient,
  contracts: Pick<NcnContracts, "registry">,
  params: { validator: Address; offence: Offence; evidence: Hex },
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "slash",
    args: [params.validator, params.offence, params.evidence],
  });
}
