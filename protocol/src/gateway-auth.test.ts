import { describe, expect, test } from "bun:test";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { BaseError } from "./errors.ts";
import {
  GATEWAY_TOKEN_LIFETIME_MS,
  gatewayAuthorization,
  makeGatewayToken,
  parseGatewayToken,
  tokenOfAuthorization,
  verifyGatewayToken,
} from "./gateway-auth.ts";

const gateway = privateKeyToAccount(generatePrivateKey());

async function reasonOf(run: () => unknown): Promise<[string, string | undefined]> {
  try {
    await run();
  } catch (e) {
    if (e instanceof BaseError) return [e.code, (e.details as { reason?: string }).reason];
    throw e;
  }
  throw new Error("expected a refusal");
}

describe("gateway tokens", () => {
  test("a token names its gateway, verifies until it expires and travels in one header", async () => {
    const now = 1_700_000_000_000;
    const { token, expiresAt } = await makeGatewayToken(gateway, now);
    expect(expiresAt).toBe(now + GATEWAY_TOKEN_LIFETIME_MS);
    const header = gatewayAuthorization(token);
    expect(header.startsWith("NCN-Gateway ")).toBe(true);
    const verified = await verifyGatewayToken(tokenOfAuthorization(header), now + 1_000);
    expect<string>(verified.gateway).toBe(gateway.address.toLowerCase());
    expect(verified.expiresAt).toBe(expiresAt);
    expect(await reasonOf(() => verifyGatewayToken(token, expiresAt))).toEqual([
      "UNAUTHORIZED",
      "token_expired",
    ]);
  });

  test("missing, foreign-scheme, malformed, forged and over-long tokens are refused by name", async () => {
    const now = Date.now();
    const { token } = await makeGatewayToken(gateway, now);
    expect(await reasonOf(() => tokenOfAuthorization(undefined))).toEqual(["UNAUTHORIZED", "token_missing"]);
    expect(await reasonOf(() => tokenOfAuthorization(`Bearer ${token}`))).toEqual([
      "UNAUTHORIZED",
      "token_scheme",
    ]);
    expect(await reasonOf(() => parseGatewayToken("0x12.34"))).toEqual(["UNAUTHORIZED", "token_malformed"]);
    // Another key's signature under this gateway's name.
    const stranger = privateKeyToAccount(generatePrivateKey());
    const theirs = parseGatewayToken((await makeGatewayToken(stranger, now)).token);
    const forged = `${gateway.address.toLowerCase()}.${theirs.expiresAt}.${theirs.signature}`;
    expect(await reasonOf(() => verifyGatewayToken(forged, now))).toEqual(["UNAUTHORIZED", "token_signer"]);
    // A gateway may not mint a token that lives for a day.
    const { token: long } = await makeGatewayToken(gateway, now, 86_400_000);
    expect(await reasonOf(() => verifyGatewayToken(long, now))).toEqual(["UNAUTHORIZED", "token_too_long"]);
  });
});
