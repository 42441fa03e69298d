import { BaseError } from "@ncn/protocol";
import type { TransactionReceipt } from "viem";
import { validatorRegistryAbi } from "../../abi/validator-registry.ts";
import { revertOf, type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { NameKind, type NameParameters } from "./name-kind.ts";
import { readNameOwner } from "./read-name-owner.ts";

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

function nameTaken(params: NameParameters, owner: string): BaseError<"NAME_TAKEN"> {
  return new BaseError("NAME_TAKEN", `${params.kind} ${params.name} belongs to ${owner}`, {
    details: { kind: params.kind, name: params.name, owner },
  });
}
