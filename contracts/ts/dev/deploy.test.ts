import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { domainSeparator } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { readContract } from "viem/actions";
import { inferencePaymentAbi } from "../abi/inference-payment.ts";
import { readValidatorSet, tokenBalance } from "../actions/index.ts";
import { parseDeployment } from "../deployment.ts";
import { paymentDomain } from "../signing.ts";
import { deploySystem } from "./deploy.ts";
import { devKey, type LocalChain, startLocalChain } from "./local-chain.ts";

const WAD = 10n ** 18n;
let chain: LocalChain;
let deployMs = 0;

beforeAll(async () => {
  const started = performance.now();
  chain = await startLocalChain({
    deploy: {
      threshold: 3,
      fund: [{ address: privateKeyToAccount(devKey("client")).address, tokens: 500n * WAD, ether: WAD }],
      faucet: { amount: 10n * WAD, cooldown: 60n, budget: 1_000n * WAD },
    },
  });
  deployMs = performance.now() - started;
});
afterAll(() => chain.stop());

describe("deploySystem", () => {
  test("deploys, registers five validators at threshold 3 and funds accounts, quickly", async () => {
    const reader = chain.client(chain.deployerKey);
    const set = await readValidatorSet(reader, chain.contracts);
    expect(set.validators).toEqual(chain.validatorKeys.map((k) => privateKeyToAccount(k).address));
    expect(set.threshold).toBe(3);
    expect(set.maxValidators).toBe(5);
    expect(set.minStake).toBe(1_000n * WAD);
    const client = privateKeyToAccount(devKey("client")).address;
    expect(await tokenBalance(reader, chain.contracts, client)).toBe(500n * WAD);
    expect(await reader.getBalance({ address: client })).toBe(WAD);
    expect(await tokenBalance(reader, chain.contracts, chain.contracts.registry)).toBe(5_000n * WAD);
    // anvil start + deploy + 5 registrations; generous bound for 2 busy cores
    expect(deployMs).toBeLessThan(5_000);
  });

  test("the payment contract's domain separator is the protocol's NCN domain", async () => {
    const reader = chain.client(chain.deployerKey);
    const onChain = await readContract(reader, {
      address: chain.contracts.payment,
      abi: inferencePaymentAbi,
      functionName: "DOMAIN_SEPARATOR",
    });
    expect(onChain).toBe(
      domainSeparator({ domain: paymentDomain(chain.deployment.chainId, chain.contracts.payment) }),
    );
  });

  test("returns a deployment that parses with the published schema", () => {
    const parsed = parseDeployment(JSON.parse(JSON.stringify(chain.deployment)));
    expect(parsed).toEqual(chain.deployment);
    expect(parsed.blockNumber).toBeGreaterThan(0);
  });

  test("a second deployment on the same chain gets fresh addresses", async () => {
    const again = await deploySystem({ rpcUrl: chain.anvil.url, deployerKey: chain.deployerKey });
    expect(again.payment).not.toBe(chain.deployment.payment);
    const set = await readValidatorSet(chain.client(chain.deployerKey), again);
    expect(set.validators).toEqual([]);
  });
});
