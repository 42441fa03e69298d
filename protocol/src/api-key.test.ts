import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { generatePrivateKey } from "viem/accounts";
import { API_KEY_PREFIX, ApiKeyString, encodeApiKey, hasBearerApiKey, parseBearerApiKey } from "./api-key.ts";
import { BaseError } from "./errors.ts";
import { Bytes32 } from "./primitives.ts";

const sessionId = v.parse(Bytes32, `0x${"ab".repeat(32)}`);

describe("API keys", () => {
  test("a key holds its session id and the delegate's private key, and reads back", () => {
    const privateKey = generatePrivateKey();
    const key = encodeApiKey({ sessionId, privateKey });
    expect(key.startsWith(API_KEY_PREFIX)).toBe(true);
    expect(key).toHaveLength(4 + 87);
    expect(v.parse(ApiKeyString, key)).toEqual({ sessionId, privateKey });
    expect(parseBearerApiKey(`Bearer ${key}`)).toEqual({ sessionId, privateKey });
    expect(parseBearerApiKey(`bearer   ${key}`)).toEqual({ sessionId, privateKey });
    expect(hasBearerApiKey(`Bearer ${key}`)).toBe(true);
    expect(hasBearerApiKey("Bearer sk-123")).toBe(false);
    expect(hasBearerApiKey(undefined)).toBe(false);
  });

  test("missing, malformed, of another version or with an invalid scalar: INVALID_API_KEY (401), never echoing the key", () => {
    const key = encodeApiKey({ sessionId, privateKey: generatePrivateKey() });
    const zero = encodeApiKey({ sessionId, privateKey: `0x${"00".repeat(32)}` });
    const tooBig = encodeApiKey({ sessionId, privateKey: `0x${"ff".repeat(32)}` });
    const v2 = `${API_KEY_PREFIX}Ag${key.slice(API_KEY_PREFIX.length + 2)}`;
    for (const header of [
      undefined,
      "",
      key,
      `Basic ${key}`,
      `Bearer ${key}x`,
      `Bearer ${key.slice(0, -1)}`,
      `Bearer ${key.slice(0, -1)}!`,
      `Bearer ${zero}`,
      `Bearer ${tooBig}`,
      `Bearer ${v2}`,
    ]) {
      let error: unknown;
      try {
        parseBearerApiKey(header);
      } catch (e) {
        error = e;
      }
      if (!(error instanceof BaseError)) throw new Error(`expected a typed error for ${header}`);
      expect([error.code, error.status]).toEqual(["INVALID_API_KEY", 401]);
      expect(error.shortMessage).not.toContain(key.slice(8));
    }
  });
});
