import { openSession, readSession, readSessionSigner, setSessionSigner } from "@ncn/contracts/actions";
import { BaseError, Bytes32, encodeApiKey } from "@ncn/protocol";
import * as v from "valibot";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { getBlock } from "viem/actions";
import type { KeyWallet } from "./key-wallet.ts";

export interface CreateApiKeyParameters {
  /** Open a new session with this deposit (base units)... */
  deposit?: bigint | undefined;
  /** ...lasting this many seconds from the latest block. */
  expiresInSeconds?: bigint | undefined;
  /** ...or put the key on a session the wallet already owns (any key on it before stops working). */
  sessionId?: string | undefined;
}

export interface CreatedApiKey {
  /** `ncn-…`: shown once, stored nowhere. */
  apiKey: string;
  sessionId: Bytes32;
  /** The key's signer, named on chain as the session's delegate. */
  signer: `0x${string}`;
  /** What OpenAI-compatible clients take as their base URL. */
  baseUrl: string;
  deposit: bigint;
  /** Unix seconds. */
  expiry: bigint;
  transactionHash: `0x${string}`;
}

/**
 * A new API key: a fresh delegate key named on chain as the voucher signer of a new session
 * (one transaction, `openSessionWithSigner`) or of one the wallet owns (`setSessionSigner`).
 *
 * @example
 * const { apiKey, baseUrl } = await createApiKey(wallet, { deposit: 10n ** 19n, expiresInSeconds: 86_400n });
 */
export async function createApiKey(
  wallet: KeyWallet,
  params: CreateApiKeyParameters,
): Promise<CreatedApiKey> {
  const privateKey = generatePrivateKey();
  const signer = privateKeyToAccount(privateKey).address;
  const baseUrl = `${wallet.gatewayUrl}/v1`;
  if (params.sessionId !== undefined) {
    const parsed = v.safeParse(Bytes32, params.sessionId);
    if (!parsed.success)
      throw new BaseError("INVALID_INPUT", "--session must be a session id (0x + 64 hex digits)");
    const sessionId = parsed.output;
    const session = await readSession(wallet.client, wallet.contracts, sessionId);
    if (session.client.toLowerCase() !== wallet.client.account.address.toLowerCase()) {
      throw new BaseError("FORBIDDEN", "this wallet did not open that session", { details: { sessionId } });
    }
    if (session.gateway.toLowerCase() !== wallet.gateway) {
      throw new BaseError("CONFLICT", "that session is for another gateway", {
        details: { sessionId, gateway: session.gateway },
      });
    }
    const { receipt } = await setSessionSigner(wallet.client, wallet.contracts, { sessionId, signer });
    return {
      apiKey: encodeApiKey({ sessionId, privateKey }),
      sessionId,
      signer: signer.toLowerCase() as `0x${string}`,
      baseUrl,
      deposit: session.deposit,
      expiry: session.expiry,
      transactionHash: receipt.transactionHash,
    };
  }
  if (params.deposit === undefined || params.deposit <= 0n) {
    throw new BaseError(
      "INVALID_INPUT",
      "--deposit is needed (a positive amount of NCN) unless --session is given",
    );
  }
  const block = await getBlock(wallet.client);
  const expiry = block.timestamp + (params.expiresInSeconds ?? 30n * 86_400n);
  const opened = await openSession(wallet.client, wallet.contracts, {
    gateway: wallet.gateway,
    amount: params.deposit,
    expiry,
    signer,
  });
  const sessionId = v.parse(Bytes32, opened.sessionId);
  // Read back: the key is printed only once it is what the chain says.
  if (
    (await readSessionSigner(wallet.client, wallet.contracts, sessionId))?.toLowerCase() !==
    signer.toLowerCase()
  ) {
    throw new BaseError("CHAIN_ERROR", "the session was opened but does not name the new key");
  }
  return {
    apiKey: encodeApiKey({ sessionId, privateKey }),
    sessionId,
    signer: signer.toLowerCase() as `0x${string}`,
    baseUrl,
    deposit: params.deposit,
    expiry,
    transactionHash: opened.receipt.transactionHash,
  };
}
