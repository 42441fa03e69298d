import type { RegistryConfig } from "../config.ts";
import { contractsNameOwners } from "./contracts-name-owners.ts";
import { contractsPaymentReader } from "./contracts-payment-reader.ts";
import { contractsValidatorSet } from "./contracts-validator-set.ts";
import type { NameOwnerReader } from "./name-owners.ts";
import type { PaymentReader } from "./payment-reader.ts";
import { staticValidatorSet, type ValidatorSetReader } from "./validator-set.ts";

/** What a node reads from the chain; each is absent where the configuration names no contract. */
export interface ChainReaders {
  payments: PaymentReader | undefined;
  validatorSet: ValidatorSetReader | undefined;
  /**
   * Owners of subnet and model names. Without one (no chain), a node keeps the first owner
   * it sees for a name, which does not outlive the record's expiry.
   */
  names: NameOwnerReader | undefined;
}

export interface ChainReadersOptions {
  config: Pick<RegistryConfig, "rpcUrl" | "paymentContract" | "validatorRegistry">;
  /** This node's validator address: without a validator registry the set is this node alone. */
  validator?: `0x${string}` | undefined;
  /** Readers given by the caller (tests, embedders) take the place of the ones built here. */
  given?: Partial<ChainReaders>;
}

/**
 * The node's chain readers: `InferencePayment` (escrows, sessions, the EIP-712 domain) when
 * `rpcUrl` and `paymentContract` are set, and `ValidatorRegistry` (the validator set and
 * name claims) when `validatorRegistry` is set too. Reads the chain id once.
 *
 * @example const { payments, validatorSet, names } = await chainReaders({ config })
 */
export async function chainReaders(options: ChainReadersOptions): Promise<ChainReaders> {
  const { config, validator, given = {} } = options;
  const { rpcUrl, paymentContract, validatorRegistry } = config;
  const payments =
    given.payments ??
    (rpcUrl && paymentContract ? await contractsPaymentReader({ rpcUrl, paymentContract }) : undefined);
  const registry =
    rpcUrl && validatorRegistry && payments
      ? { rpcUrl, chainId: payments.domain.chainId, validatorRegistry }
      : undefined;
  const validatorSet =
    given.validatorSet ??
    (registry ? contractsValidatorSet(registry) : validator ? staticValidatorSet([validator]) : undefined);
  const names = given.names ?? (registry ? contractsNameOwners(registry) : undefined);
  return { payments, validatorSet, names };
}
