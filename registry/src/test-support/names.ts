import { claimName, createNcnClient, type LocalChain } from "@ncn/contracts";
import type { SignedRecord } from "@ncn/protocol";
import type { PrivateKeyAccount } from "viem/accounts";

/**
 * Claims on chain, for `owner`, the names of the subnet and model records among `records` (as
 * an owner does before publishing them to nodes that read the chain). Gives `owner` ether first.
 */
export async function claimNamesOf(
  chain: LocalChain,
  owner: PrivateKeyAccount,
  records: readonly SignedRecord[],
): Promise<void> {
  await chain.fundEther(owner.address);
  const client = createNcnClient({
    rpcUrl: chain.anvil.url,
    chainId: chain.deployment.chainId,
    account: owner,
  });
  for (const record of records) {
    if (record.kind !== "subnet" && record.kind !== "model") continue;
    await claimName(client, chain.contracts, { kind: record.kind, name: record.key });
  }
}
