import { createNcnReadClient, readValidator, readValidatorSet } from "@ncn/contracts/actions";
import { ChainReadError } from "../errors.ts";
import type { ValidatorSetReader } from "./validator-set.ts";

export interface ContractsValidatorSetInit {
  rpcUrl: string;
  chainId: number;
  validatorRegistry: `0x${string}`;
}

/** Reads the active validator set, threshold and stakes from `ValidatorRegistry`. */
export function contractsValidatorSet(init: ContractsValidatorSetInit): ValidatorSetReader {
  const client = createNcnReadClient({ rpcUrl: init.rpcUrl, chainId: init.chainId });
  const contracts = { registry: init.validatorRegistry };
  const wrap = async <T>(what: string, run: () => Promise<T>) => {
    try {
      return await run();
    } catch (e) {
      throw new ChainReadError(`cannot read ${what} from the validator registry`, { cause: e });
    }
  };
  return {
    active: () =>
      wrap("the active set", async () =>
        (await readValidatorSet(client, contracts)).validators.map((a) => a.toLowerCase() as `0x${string}`),
      ),
    threshold: () => wrap("the threshold", async () => (await readValidatorSet(client, contracts)).threshold),
    stakeOf: (validator) =>
      wrap("a validator", async () => (await readValidator(client, contracts, validator)).stake),
  };
}
