import type { Address } from "viem";
import { readContract } from "viem/actions";
import { ncnTokenAbi } from "../../abi/ncn-token.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/** NCN balance of `account`. */
export function tokenBalance(
  client: ReadClient,
  contracts: Pick<NcnContracts, "token">,
  account: Address,
): Promise<bigint> {
  return readContract(client, {
    address: contracts.token,
    abi: ncnTokenAbi,
    functionName: "balanceOf",
    args: [account],
  });
}
