import { createPublicClient, http, type PublicClient, parseAbi } from "viem";
import { ChainReadError } from "../errors.ts";
import type { ValidatorSetReader } from "./validator-set.ts";

/** The view functions of `IValidatorRegistry` the registry reads. */
export const validatorRegistryReadAbi = parseAbi([
  "struct Validator { uint96 stake; uint64 unbondingEnd; uint8 status; uint8 index; bool jailed; }",
  "function activeValidators() view returns (address[])",
  "function threshold() view returns (uint16)",
  "function getValidator(address validator) view returns (Validator)",
]);

export interface ViemValidatorSetInit {
  rpcUrl: string;
  validatorRegistry: `0x${string}`;
  client?: PublicClient;
}

/** Reads the active validator set and threshold from `ValidatorRegistry`. */
export function viemValidatorSet(init: ViemValidatorSetInit): ValidatorSetReader {
  const client = init.client ?? createPublicClient({ transport: http(init.rpcUrl), cacheTime: 0 });
  const address = init.validatorRegistry;
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
        (
          await client.readContract({
            address,
            abi: validatorRegistryReadAbi,
            functionName: "activeValidators",
          })
        ).map((a) => a.toLowerCase() as `0x${string}`),
      ),
    threshold: () =>
      wrap("the threshold", async () =>
        Number(
          await client.readContract({ address, abi: validatorRegistryReadAbi, functionName: "threshold" }),
        ),
      ),
    stakeOf: (validator) =>
      wrap(
        "a validator",
        async () =>
          (
            await client.readContract({
              address,
              abi: validatorRegistryReadAbi,
              functionName: "getValidator",
              args: [validator],
            })
          ).stake,
      ),
  };
}
