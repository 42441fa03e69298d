import {
  type Address,
  createPublicClient,
  getContractAddress,
  type Hash,
  type Hex,
  http,
  parseSignature,
  type TransactionReceipt,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  deployContract,
  getBalance,
  getBlock,
  getChainId,
  getTransactionCount,
  sendTransaction,
  signTypedData,
  waitForTransactionReceipt,
  writeContract,
} from "viem/actions";
import { inferencePaymentAbi, inferencePaymentBytecode } from "../abi/inference-payment.ts";
import { ncnTokenAbi, ncnTokenBytecode } from "../abi/ncn-token.ts";
import { validatorRegistryAbi, validatorRegistryBytecode } from "../abi/validator-registry.ts";
import { permitTypes } from "../actions/token/sign-permit.ts";
import { createNcnClient } from "../client.ts";
import type { NcnDeployment } from "../deployment.ts";
import { ContractsError } from "../errors.ts";

const WAD = 10n ** 18n;

/** Defaults of a devnet deployment (NCN uses 3 of 5 validators). */
export const deployDefaults = {
  tokenCap: 1_000_000_000n * WAD,
  minStake: 1_000n * WAD,
  threshold: 3,
  maxValidators: 5,
  unbondingDelay: 7n * 24n * 3600n,
  fees: { gatewayBps: 500, validatorBps: 300, protocolBps: 200 },
  settlementGrace: 3600,
  validatorEther: WAD,
} as const;

export interface DeploySystemParameters {
  rpcUrl: string;
  /** Deploys and is governance (admin, minter, slasher); pays gas and ether for everyone else. */
  deployerKey: Hex;
  /** Receives protocol fees and slashed stake (default: the deployer). */
  treasury?: Address;
  tokenCap?: bigint;
  minStake?: bigint;
  threshold?: number;
  /** Default max(5, validators.length). */
  maxValidators?: number;
  unbondingDelay?: bigint;
  fees?: { gatewayBps: number; validatorBps: number; protocolBps: number };
  /** Seconds a session stays settleable after expiry. */
  settlementGrace?: number;
  /** Validator keys to register, each with its stake (default minStake) minted to it first. */
  validators?: readonly { key: Hex; stake?: bigint }[];
  /** Accounts to give NCN (minted) and/or ether. */
  fund?: readonly { address: Address; tokens?: bigint; ether?: bigint }[];
  /** Turns the token faucet on. */
  faucet?: { amount: bigint; cooldown: bigint; budget: bigint };
  /** Receipt polling interval in ms (default 10: right for anvil). */
  pollingInterval?: number;
}

/**
 * Devnet/test deployer (production deployments use contracts/script/Deploy.s.sol).
 * Deploys and configures NCNToken, ValidatorRegistry and InferencePayment, registers validators and
 * funds accounts. Built for speed on anvil: the deployer's transactions are sent back to back with
 * precomputed nonces, gas limits and fees, and receipts are awaited together.
 *
 * @example
 * const deployment = await deploySystem({ rpcUrl: anvil.url, deployerKey, validators: keys.map((key) => ({ key })) });
 */
export async function deploySystem(params: DeploySystemParameters): Promise<NcnDeployment> {
  const chainId = await getChainId(createPublicClient({ transport: http(params.rpcUrl) }));
  const pollingInterval = params.pollingInterval ?? 10;
  const deployer = createNcnClient({
    rpcUrl: params.rpcUrl,
    chainId,
    account: params.deployerKey,
    pollingInterval,
  });
  const from = deployer.account.address;
  const treasury = params.treasury ?? from;
  const validators = (params.validators ?? []).map((v) => ({
    account: privateKeyToAccount(v.key),
    key: v.key,
    stake: v.stake ?? params.minStake ?? deployDefaults.minStake,
  }));
  const threshold = params.threshold ?? deployDefaults.threshold;
  const maxValidators = params.maxValidators ?? Math.max(deployDefaults.maxValidators, validators.length);
  const fees = params.fees ?? deployDefaults.fees;

  const [nonce0, block, validatorBalances] = await Promise.all([
    getTransactionCount(deployer, { address: from, blockTag: "pending" }),
    getBlock(deployer),
    Promise.all(validators.map((v) => getBalance(deployer, { address: v.account.address }))),
  ]);
  const maxPriorityFeePerGas = 1_000_000_000n;
  const maxFeePerGas = (block.baseFeePerGas ?? 1_000_000_000n) * 2n + maxPriorityFeePerGas;
  let nonce = nonce0;
  const tx = (gas: bigint) => ({
    account: deployer.account,
    chain: deployer.chain,
    nonce: nonce++,
    gas,
    maxFeePerGas,
    maxPriorityFeePerGas,
  });

  const token = getContractAddress({ from, nonce: BigInt(nonce0) });
  const registry = getContractAddress({ from, nonce: BigInt(nonce0 + 1) });
  const payment = getContractAddress({ from, nonce: BigInt(nonce0 + 2) });
  const hashes: Hash[] = [];
  hashes.push(
    await deployContract(deployer, {
      ...tx(5_000_000n),
      abi: ncnTokenAbi,
      bytecode: ncnTokenBytecode,
      args: [from, params.tokenCap ?? deployDefaults.tokenCap],
    }),
  );
  hashes.push(
    await deployContract(deployer, {
      ...tx(5_000_000n),
      abi: validatorRegistryAbi,
      bytecode: validatorRegistryBytecode,
      args: [
        token,
        from,
        treasury,
        params.minStake ?? deployDefaults.minStake,
        threshold,
        maxValidators,
        params.unbondingDelay ?? deployDefaults.unbondingDelay,
      ],
    }),
  );
  hashes.push(
    await deployContract(deployer, {
      ...tx(7_000_000n),
      abi: inferencePaymentAbi,
      bytecode: inferencePaymentBytecode,
      args: [
        token,
        registry,
        from,
        { ...fees, settlementGrace: params.settlementGrace ?? deployDefaults.settlementGrace, treasury },
      ],
    }),
  );
  hashes.push(
    await writeContract(deployer, {
      ...tx(200_000n),
      address: registry,
      abi: validatorRegistryAbi,
      functionName: "setPaymentContract",
      args: [payment],
    }),
  );
  if (params.faucet) {
    const f = params.faucet;
    hashes.push(
      await writeContract(deployer, {
        ...tx(200_000n),
        address: token,
        abi: ncnTokenAbi,
        functionName: "configureFaucet",
        args: [f.amount, f.cooldown, f.budget],
      }),
    );
  }
  const mints = [
    ...validators.map((v) => ({ address: v.account.address, tokens: v.stake })),
    ...(params.fund ?? []).filter((f) => f.tokens),
  ];
  for (const m of mints) {
    hashes.push(
      await writeContract(deployer, {
        ...tx(200_000n),
        address: token,
        abi: ncnTokenAbi,
        functionName: "mint",
        args: [m.address, m.tokens ?? 0n],
      }),
    );
  }
  const ether = [
    ...validators
      .filter((_, i) => (validatorBalances[i] ?? 0n) < deployDefaults.validatorEther / 10n)
      .map((v) => ({ address: v.account.address, ether: deployDefaults.validatorEther })),
    ...(params.fund ?? []).filter((f) => f.ether),
  ];
  for (const e of ether) {
    hashes.push(await sendTransaction(deployer, { ...tx(21_000n), to: e.address, value: e.ether ?? 0n }));
  }
  const receipts = await waitAll(deployer, hashes);

  // Validators register themselves with a permit (one transaction each), one after another so the
  // active set follows the order of `validators`.
  const registrations: Hash[] = [];
  const gasFees = { maxFeePerGas, maxPriorityFeePerGas };
  for (const v of validators) {
    const client = createNcnClient({ rpcUrl: params.rpcUrl, chainId, account: v.key, pollingInterval });
    registrations.push(
      await registerWithFreshPermit(client, { token, registry, stake: v.stake, fees: gasFees }),
    );
  }
  receipts.push(...(await waitAll(deployer, registrations)));
  let blockNumber = 0n;
  for (const r of receipts) if (r.blockNumber > blockNumber) blockNumber = r.blockNumber;
  return {
    chainId,
    token: token.toLowerCase() as NcnDeployment["token"],
    registry: registry.toLowerCase() as NcnDeployment["registry"],
    payment: payment.toLowerCase() as NcnDeployment["payment"],
    admin: from.toLowerCase() as NcnDeployment["admin"],
    blockNumber: Number(blockNumber),
  };
}

type Deployer = ReturnType<typeof createNcnClient>;

/** registerWithPermit from an account that never signed a permit for this token (nonce 0). */
async function registerWithFreshPermit(
  client: Deployer,
  p: {
    token: Address;
    registry: Address;
    stake: bigint;
    fees: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint };
  },
): Promise<Hash> {
  const owner = client.account.address;
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600);
  const signature = await signTypedData(client, {
    account: client.account,
    domain: { name: "NCN Network", version: "1", chainId: client.chain.id, verifyingContract: p.token },
    types: permitTypes,
    primaryType: "Permit",
    message: { owner, spender: p.registry, value: p.stake, nonce: 0n, deadline },
  });
  const { r, s, yParity } = parseSignature(signature);
  return writeContract(client, {
    account: client.account,
    chain: client.chain,
    gas: 300_000n,
    ...p.fees,
    address: p.registry,
    abi: validatorRegistryAbi,
    functionName: "registerWithPermit",
    args: [p.stake, deadline, yParity + 27, r, s],
  });
}

async function waitAll(client: Deployer, hashes: readonly Hash[]): Promise<TransactionReceipt[]> {
  const receipts = await Promise.all(hashes.map((hash) => waitForTransactionReceipt(client, { hash })));
  const failed = receipts.filter((r) => r.status !== "success");
  if (failed.length > 0) {
    throw new ContractsError("TRANSACTION_REVERTED", `${failed.length} deployment transaction(s) reverted`, {
      details: { hashes: failed.map((r) => r.transactionHash) },
    });
  }
  return receipts;
}
