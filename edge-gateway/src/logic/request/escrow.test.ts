import { expect, test } from "bun:test";
import { BaseError, idToBytes32 } from "@ncn/protocol";
import type { EscrowInfo } from "../../chain/port.ts";
import { escrowPayer } from "./escrow.ts";

const GATEWAY = `0x${"9a".repeat(20)}`;
const CLIENT = `0x${"c1".repeat(20)}`;
const terms = {
  requestId: "r1",
  subnet: "default",
  price: "1000",
  deadline: 2_000_000,
  gateway: GATEWAY,
  contract: "0xpay",
};
const escrow: EscrowInfo = {
  client: CLIENT.toUpperCase().replace("0X", "0x"),
  subnetId: idToBytes32("default"),
  gateway: GATEWAY,
  amount: 1000n,
  expiry: 2_000,
  open: true,
};

function refusal(e: EscrowInfo | null, caller: string | undefined): [string, string] {
  try {
    escrowPayer(e, terms, caller);
  } catch (err) {
    if (err instanceof BaseError) return [err.code, err.shortMessage];
  }
  return ["none", ""];
}

test("an open escrow of this gateway, subnet and price, spent by its client, names the payer", () => {
  expect(escrowPayer(escrow, terms, CLIENT)).toBe(CLIENT);
});

test("every other escrow is refused with a typed 402 saying why", () => {
  expect(refusal(null, CLIENT)).toEqual(["PAYMENT_REQUIRED", "no open escrow for this request id"]);
  expect(refusal({ ...escrow, open: false }, CLIENT)[0]).toBe("PAYMENT_REQUIRED");
  expect(refusal({ ...escrow, gateway: `0x${"01".repeat(20)}` }, CLIENT)[1]).toBe(
    "the escrow names another gateway",
  );
  expect(refusal({ ...escrow, subnetId: idToBytes32("other") }, CLIENT)[1]).toBe(
    "the escrow is for another subnet",
  );
  expect(refusal({ ...escrow, amount: 999n }, CLIENT)[0]).toBe("INSUFFICIENT_FUNDS");
  expect(refusal({ ...escrow, expiry: 1_999 }, CLIENT)[0]).toBe("PAYMENT_EXPIRED");
  // Whoever saw the escrow's id on chain may not spend it.
  expect(refusal(escrow, `0x${"bb".repeat(20)}`)[0]).toBe("PAYMENT_REQUIRED");
  expect(refusal(escrow, undefined)[0]).toBe("PAYMENT_REQUIRED");
});
