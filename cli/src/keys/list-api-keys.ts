import { listClientSessions, readSession, readSessionSigner } from "@ncn/contracts/actions";
import type { KeyWallet } from "./key-wallet.ts";

/** One of the wallet's sessions with this gateway, and the key signer it names. */
export interface ApiKeySession {
  sessionId: `0x${string}`;
  /** The delegate voucher signer (an API key's address), or null: no key works on it. */
  signer: `0x${string}` | null;
  deposit: bigint;
  settled: bigint;
  /** Unix seconds. */
  expiry: bigint;
  closed: boolean;
}

/**
 * The wallet's sessions with the gateway, oldest first, each with its current key signer (the
 * keys themselves are nowhere to be read: they were printed once).
 *
 * @example
 * for (const s of await listApiKeys(wallet)) console.log(s.sessionId, s.signer ?? "no key");
 */
export async function listApiKeys(wallet: KeyWallet): Promise<ApiKeySession[]> {
  const opened = await listClientSessions(wallet.client, wallet.contracts, {
    client: wallet.client.account.address,
  });
  const mine = opened.filter((s) => s.gateway.toLowerCase() === wallet.gateway);
  return Promise.all(
    mine.map(async ({ sessionId }) => {
      const [session, signer] = await Promise.all([
        readSession(wallet.client, wallet.contracts, sessionId),
        readSessionSigner(wallet.client, wallet.contracts, sessionId),
      ]);
      return {
        sessionId,
        signer: signer === null ? null : (signer.toLowerCase() as `0x${string}`),
        deposit: session.deposit,
        settled: session.settled,
        expiry: session.expiry,
        closed: session.closed,
      };
    }),
  );
}
