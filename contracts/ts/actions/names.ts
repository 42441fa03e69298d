import { BaseError } from "@ncn/protocol";
import type { Address, TransactionReceipt } from "viem";
import { readContract } from "viem/actions";
import { validatorRegistryAbi } from "../abi/validator-registry.ts";
import { type ReadClient, revertOf, type WriteClient, writeAndConfirm } from "../client.ts";
import type { NcnContracts } from "../deployment.ts";

/** Namespaces of claimable names, in the order of the contract's `NameKind` enum. */
export const NameKind = { subnet: 0, model: 1 } as const;
export type NameKind = keyof typeof NameKind;

const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

export interface NameParameters {
  kind: NameKind;
  /** The subnet or model id, exactly as in its registry record. */
  name: string;
}

/** Owner of a subnet or model name on chain (lowercase), or null while nobody claimed it. */
export async function readNameOwner(
  client: ReadClient,
  contracts: Pick<NcnContracts, "registry">,
  params: NameParameters,
): Promise<`0x${string}` | null> {
  const owner = await readContract(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "nameOwner",
    args: [NameKind[params.kind], params.name],
  });
  return owner === ZERO_ADDRESS ? null : (owner.toLowerCase() as `0x${string}`);
}

export interface ClaimNameReturnType {
  /** The transaction, or null when the caller already owned the name. */
  receipt: TransactionReceipt | null;
}

/**
 * Claims a subnet or model name for the client's account before its first record is published;
 * registry nodes accept that name's records only from the owner the chain names. Owning it
 * already is fine (no transaction); a name another key owns fails with `NAME_TAKEN`.
 *
 * @example
 * await claimName(owner, chain.contracts, { kind: "subnet", name: "ocr" });
 */
export async function claimName(
  client: WriteClient,
  contracts: Pick<NcnContracts, "registry">,
  params: NameParameters,
): Promise<ClaimNameReturnType> {
  const me = client.account.address.toLowerCase();
  const owner = await readNameOwner(client, contracts, params);
  if (owner === me) return { receipt: null };
  if (owner !== null) throw nameTaken(params, owner);
  try {
    const receipt = await writeAndConfirm(client, {
      address: contracts.registry,
      abi: validatorRegistryAbi,
      functionName: "claimName",
      args: [NameKind[params.kind], params.name],
    });
    return { receipt };
  } catch (e) {
    const revert = revertOf(e);
    // Someone else's claim landed between the read and this transaction.
    if (revert?.errorName === "NameTaken") throw nameTaken(params, String(revert.args[1]).toLowerCase());
    if (revert?.errorName === "InvalidName") {
      throw new BaseError("INVALID_INPUT", `${params.kind} name ${params.name} is not a valid id`, {
        cause: e,
        details: { kind: params.kind, name: params.name },
      });
    }
    throw e;
  }
}

/** Hands a claimed name to another key (only its owner can). */
export async function transferName(
  client: WriteClient,
  contracts: Pick<NcnContracts, "registry">,
  params: NameParameters & { to: Address },
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "transferName",
    args: [NameKind[params.kind], params.name, params.to],
  });
}

function nameTaken(params: NameParameters, owner: string): BaseError<"NAME_TAKEN"> {
  return new BaseError("NAME_TAKEN", `${params.kind} ${params.name} belongs to ${owner}`, {
    details: { kind: params.kind, name: params.name, owner },
  });
}
