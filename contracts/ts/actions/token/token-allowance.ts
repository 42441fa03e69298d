import type { Address } from "viem";
import { readContract } from "viem/actions";
import { ncnTokenAbi } from "../../abi/ncn-token.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/** NCN allowance from `owner` to `spender`. */
export function tokenAllowance(
  client: ReadClient,
  contracts: Pick<NcnContracts, "token">,
  params: { owner: Address; spender: Address },
): Promise<bigint> {
  return readContract(client, {
    address: contracts.token,
    abi: ncnTokenAbi,
    functionName: "allowance",
    args: [params.owner, params.spender],
  });
}
