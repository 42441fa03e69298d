import { readSession, setSessionSigner } from "@ncn/contracts/actions";
import { ApiKeyString, BaseError, Bytes32 } from "@ncn/protocol";
import * as v from "valibot";
import { zeroAddress } from "viem";
import type { KeyWallet } from "./key-wallet.ts";

/**
 * Revokes the API key of a session (given as the key itself or its session id): the session
 * names no delegate any more. Its vouchers stop settling at once on chain; the gateway stops
 * accepting the key within its cache time (10 s). Only the wallet that opened the session can.
 *
 * @example
 * await revokeApiKey(wallet, "ncn-AS3f…");
 */
export async function revokeApiKey(
  wallet: KeyWallet,
  keyOrSessionId: string,
): Promise<{ sessionId: Bytes32; transactionHash: `0x${string}` }> {
  const asKey = v.safeParse(ApiKeyString, keyOrSessionId);
  const asId = v.safeParse(Bytes32, keyOrSessionId);
  const sessionId = asKey.success ? asKey.output.sessionId : asId.success ? asId.output : undefined;
  if (sessionId === undefined) {
    throw new BaseError("INVALID_INPUT", "give an API key (ncn-…) or a session id (0x + 64 hex digits)");
  }
  const session = await readSession(wallet.client, wallet.contracts, sessionId);
  if (session.client.toLowerCase() !== wallet.client.account.address.toLowerCase()) {
    throw new BaseError("FORBIDDEN", "this wallet did not open that session", { details: { sessionId } });
  }
  const { receipt } = await setSessionSigner(wallet.client, wallet.contracts, {
    sessionId,
    signer: zeroAddress,
  });
  return { sessionId, transactionHash: receipt.transactionHash };
}
