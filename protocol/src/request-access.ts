import { idToBytes32, type NcnDomain, typedData } from "./eip712.ts";

/**
 * Header (or `access` query parameter, for EventSource and WebSocket clients that cannot set
 * headers) carrying the payer's EIP-712 `RequestAccess` signature. A request's result, its
 * events and its cancel belong to whoever paid for it; an escrowed request is submitted by
 * the escrow's client.
 */
export const REQUEST_ACCESS_HEADER = "ncn-access";

/**
 * The typed data a payer signs to claim request `requestId` at `gateway`.
 *
 * @example const signature = await account.signTypedData(requestAccessData(domain, "job-1", gateway));
 */
export function requestAccessData(domain: NcnDomain, requestId: string, gateway: `0x${string}`) {
  return typedData(domain, "RequestAccess", { requestId: idToBytes32(requestId), gateway });
}
