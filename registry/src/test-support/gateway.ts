import { gatewayAuthorization, makeGatewayToken } from "@ncn/protocol";
import type { PrivateKeyAccount } from "viem/accounts";

const tokens = new WeakMap<PrivateKeyAccount, { header: string; expiresAt: number }>();

/**
 * The `Authorization` header a gateway with this key sends to validators (a token signed
 * once and reused until a minute before it expires, as the gateway does).
 */
export async function gatewayHeader(account: PrivateKeyAccount): Promise<string> {
  const known = tokens.get(account);
  if (known && known.expiresAt - Date.now() > 60_000) return known.header;
  const { token, expiresAt } = await makeGatewayToken(account);
  const header = gatewayAuthorization(token);
  tokens.set(account, { header, expiresAt });
  return header;
}

/** POSTs JSON as that gateway. */
export async function postAsGateway(
  account: PrivateKeyAccount,
  url: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { authorization: await gatewayHeader(account), "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Opens the validation socket as that gateway (the token rides on the upgrade request). */
export async function validationSocket(account: PrivateKeyAccount, nodeUrl: string): Promise<WebSocket> {
  const options = { headers: { authorization: await gatewayHeader(account) } };
  // Bun's WebSocket takes request headers; the DOM typing knows only subprotocols.
  return new WebSocket(`${nodeUrl.replace(/^http/, "ws")}/v1/validate/ws`, options as unknown as string[]);
}
