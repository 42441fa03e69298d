import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AttestationPhase, digestOf } from "@ncn/protocol";
import { type Address, type Hex, keccak256, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  approveTokens,
  beginUnbonding,
  claimFaucet,
  mintTokens,
  Offence,
  readValidator,
  readValidatorSet,
  registerValidator,
  reportDoubleSign,
  setThreshold,
  slashValidator,
  tokenAllowance,
  tokenBalance,
  transferTokens,
  ValidatorStatus,
  verifyAttestations,
  withdrawStake,
} from "./actions/index.ts";
import { revertOf } from "./client.ts";
import { devKey, type LocalChain, startLocalChain } from "./dev/local-chain.ts";
import { paymentDomain, signAttestation } from "./signing.ts";

const WAD = 10n ** 18n;
const addr = (key: Hex): Address => privateKeyToAccount(key).address;
const newcomers = [devKey("newcomer-0"), devKey("newcomer-1")];

let chain: LocalChain;
beforeAll(async () => {
  chain = await startLocalChain({
    deploy: {
      maxValidators: 7,
      unbondingDelay: 600n,
      fund: newcomers.map((k) => ({ address: addr(k), tokens: 2_000n * WAD, ether: WAD })),
      faucet: { amount: 25n * WAD, cooldown: 3_600n, budget: 100n * WAD },
    },
  });
});
afterAll(() => chain.stop());

const domain = () => paymentDomain(chain.deployment.chainId, chain.contracts.payment);
const digest = keccak256(toHex("a digest validators attest"));
const preprocess = (d: Hex) => ({
  requestId: d,
  phase: AttestationPhase.Preprocess,
  subject: d,
  outputHash: `0x${"00".repeat(32)}` as const,
});
const sign = (key: Hex, d: Hex = digest) => signAttestation(chain.client(key), domain(), preprocess(d));
const attestationDigest = (d: Hex = digest) => digestOf(domain(), "Attestation", preprocess(d));

describe("validator registry bindings", () => {
  test("reads the active set and counts only distinct active signers", async () => {
    const reader = chain.client(chain.deployerKey);
    const set = await readValidatorSet(reader, chain.contracts);
    expect(set).toEqual({
      validators: chain.validatorKeys.map(addr),
      threshold: 3,
      maxValidators: 7,
      minStake: 1_000n * WAD,
    });
    const [s0, s1, s2] = await Promise.all(chain.validatorKeys.slice(0, 3).map((k) => sign(k)));
    const outsider = await sign(devKey("outsider"));
    const d = attestationDigest();
    const check = (signatures: Hex[]) =>
      verifyAttestations(reader, chain.contracts, { digest: d, signatures });
    expect(await check([s0, s1, s2] as Hex[])).toEqual({ ok: true, count: 3, threshold: 3 });
    expect(await check([s0, s0, s1, s1, outsider] as Hex[])).toEqual({ ok: false, count: 2, threshold: 3 });
    expect(await check([])).toEqual({ ok: false, count: 0, threshold: 3 });
  });

  test("registers newcomers with approve and with a permit; the bar grows to a majority; governance raises the threshold", async () => {
    const [a, b] = newcomers as [Hex, Hex];
    await registerValidator(chain.client(a), chain.contracts, { stake: 1_000n * WAD });
    await registerValidator(chain.client(b), chain.contracts, { stake: 1_500n * WAD, approval: "permit" });
    const reader = chain.client(chain.deployerKey);
    expect(await readValidator(reader, chain.contracts, addr(b))).toEqual({
      stake: 1_500n * WAD,
      unbondingEnd: 0n,
      status: ValidatorStatus.Active,
      index: 6,
      jailed: false,
    });
    // Seven active validators: three signatures (the configured M) are no longer a majority.
    expect((await readValidatorSet(reader, chain.contracts)).threshold).toBe(4);
    const three = await Promise.all(chain.validatorKeys.slice(0, 3).map((k) => sign(k)));
    expect(
      await verifyAttestations(reader, chain.contracts, { digest: attestationDigest(), signatures: three }),
    ).toEqual({ ok: false, count: 3, threshold: 4 });
    await setThreshold(reader, chain.contracts, 5);
    expect((await readValidatorSet(reader, chain.contracts)).threshold).toBe(5);
    const notAdmin = await setThreshold(chain.client(a), chain.contracts, 1).catch((e: unknown) => e);
    expect(revertOf(notAdmin)?.errorName).toBe("AccessControlUnauthorizedAccount");
    await setThreshold(reader, chain.contracts, 3);
  });

  test("unbonding leaves the set at once and frees the stake after the delay", async () => {
    const key = newcomers[0] as Hex;
    const client = chain.client(key);
    await beginUnbonding(client, chain.contracts);
    const reader = chain.client(chain.deployerKey);
    expect((await readValidatorSet(reader, chain.contracts)).validators).not.toContain(addr(key));
    const early = await withdrawStake(client, chain.contracts).catch((e: unknown) => e);
    expect(revertOf(early)?.errorName).toBe("UnbondingNotFinished");
    await chain.advanceTime(601);
    const before = await tokenBalance(client, chain.contracts, addr(key));
    await withdrawStake(client, chain.contracts);
    expect(await tokenBalance(client, chain.contracts, addr(key))).toBe(before + 1_000n * WAD);
  });

  test("a double sign is slashed on anyone's report; governance slashes other offences", async () => {
    const cheater = chain.validatorKeys[4] as Hex;
    const requestId = keccak256(toHex("contested request"));
    const evidence = async (label: string) => {
      const subject = keccak256(toHex(`receipt ${label}`));
      const outputHash = keccak256(toHex(`output ${label}`));
      const signature = await signAttestation(chain.client(cheater), domain(), {
        requestId,
        phase: AttestationPhase.Completion,
        subject,
        outputHash,
      });
      return { subject, outputHash, signature };
    };
    const reporterKey = newcomers[1] as Hex;
    const before = await tokenBalance(chain.client(reporterKey), chain.contracts, addr(reporterKey));
    await reportDoubleSign(chain.client(reporterKey), chain.contracts, {
      validator: addr(cheater),
      requestId,
      a: await evidence("A"),
      b: await evidence("B"),
    });
    const reader = chain.client(chain.deployerKey);
    const slashed = await readValidator(reader, chain.contracts, addr(cheater));
    expect(slashed).toMatchObject({ stake: 500n * WAD, jailed: true, status: ValidatorStatus.Inactive });
    expect(await tokenBalance(reader, chain.contracts, addr(reporterKey))).toBe(before + 250n * WAD);

    const victim = chain.validatorKeys[3] as Hex;
    await slashValidator(reader, chain.contracts, {
      validator: addr(victim),
      offence: Offence.InvalidResult,
      evidence: keccak256(toHex("report #12")),
    });
    expect((await readValidator(reader, chain.contracts, addr(victim))).stake).toBe(700n * WAD);
  });

  test("token actions: mint, approve, transfer, faucet", async () => {
    const admin = chain.client(chain.deployerKey);
    const alice = chain.client(devKey("alice"));
    const bob = addr(devKey("bob"));
    await chain.fundEther(addr(devKey("alice")));
    await mintTokens(admin, chain.contracts, { to: alice.account.address, amount: 7n * WAD });
    await approveTokens(alice, chain.contracts, { spender: bob, amount: 3n * WAD });
    expect(await tokenAllowance(alice, chain.contracts, { owner: alice.account.address, spender: bob })).toBe(
      3n * WAD,
    );
    await transferTokens(alice, chain.contracts, { to: bob, amount: 2n * WAD });
    expect(await tokenBalance(alice, chain.contracts, bob)).toBe(2n * WAD);
    await claimFaucet(alice, chain.contracts);
    expect(await tokenBalance(alice, chain.contracts, alice.account.address)).toBe(30n * WAD);
    const again = await claimFaucet(alice, chain.contracts).catch((e: unknown) => e);
    expect(revertOf(again)?.errorName).toBe("FaucetCooldown");
  });
});
