import { createNcnReadClient, readNameOwner } from "@ncn/contracts/actions";
import { ChainReadError } from "../errors.ts";
import { cachedNameOwners, type NameOwnerReader } from "./name-owners.ts";

export interface ContractsNameOwnersInit {
  rpcUrl: string;
  chainId: number;
  validatorRegistry: `0x${string}`;
}

/** Reads name claims from `ValidatorRegistry.nameOwner`, cached (see `cachedNameOwners`). */
export function contractsNameOwners(init: ContractsNameOwnersInit): NameOwnerReader {
  const client = createNcnReadClient({ rpcUrl: init.rpcUrl, chainId: init.chainId });
  const contracts = { registry: init.validatorRegistry };
  return cachedNameOwners({
    async ownerOf(kind, name) {
      try {
        return await readNameOwner(client, contracts, { kind, name });
      } catch (e) {
        throw new ChainReadError(`cannot read the owner of ${kind} ${name} from the validator registry`, {
          cause: e,
        });
      }
    },
  });
}
