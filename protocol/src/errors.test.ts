import { describe, expect, test } from "bun:test";
import {
  BaseError,
  ERROR_STATUS,
  isPaymentErrorCode,
  PAYMENT_ERROR_CODES,
  ProtocolError,
  toBaseError,
} from "./errors.ts";

describe("toBaseError", () => {
  test("a typed error passes as it is", () => {
    const e = new ProtocolError("MODEL_NOT_FOUND", "no model x", { details: { id: "x" } });
    expect(toBaseError(e)).toBe(e);
    expect(toBaseError(e, { code: "UNAUTHORIZED", message: "hidden" })).toBe(e);
  });

  test("an Error becomes INTERNAL with its own text, kept as the cause", () => {
    const cause = new TypeError("boom");
    const e = toBaseError(cause);
    expect(e).toBeInstanceOf(BaseError);
    expect([e.code, e.shortMessage, e.status, e.cause]).toEqual(["INTERNAL", "boom", 500, cause]);
    expect(e.toBody()).toEqual({
      error: { code: "INTERNAL", message: "boom", type: "server_error", param: null },
    });
  });

  test("anything else thrown becomes its text", () => {
    expect(toBaseError("plain").shortMessage).toBe("plain");
    expect(toBaseError(undefined).shortMessage).toBe("undefined");
    expect(toBaseError(42).code).toBe("INTERNAL");
  });

  test("the fallback sets the code and hides the original text", () => {
    const e = toBaseError(new Error("https://rpc.example/KEY failed"), {
      code: "UNAUTHORIZED",
      message: "cannot authenticate the gateway",
    });
    expect(e.toBody()).toEqual({
      error: {
        code: "UNAUTHORIZED",
        message: "cannot authenticate the gateway",
        type: "authentication_error",
        param: null,
      },
    });
    expect(e.status).toBe(401);
  });
});

describe("payment error codes", () => {
  test("are the 402 codes, each a known code", () => {
    expect<string[]>([...PAYMENT_ERROR_CODES].sort()).toEqual(
      Object.entries(ERROR_STATUS)
        .filter(([, status]) => status === 402)
        .map(([code]) => code)
        .sort(),
    );
  });

  test("isPaymentErrorCode", () => {
    for (const code of PAYMENT_ERROR_CODES) expect(isPaymentErrorCode(code)).toBe(true);
    for (const code of ["VALIDATION_REFUSED", "VALIDATOR_UNAVAILABLE", "INTERNAL", "payment_required", ""])
      expect(isPaymentErrorCode(code)).toBe(false);
  });
});
