import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { BaseError } from "./errors.ts";
import { SubnetId } from "./primitives.ts";
import { readBody, readQuery } from "./read-body.ts";

const Body = v.object({ subnet: SubnetId, count: v.number() });

function post(body: string, type = "application/json"): Request {
  return new Request("http://x/v1/thing", { method: "POST", body, headers: { "content-type": type } });
}

async function refusal(p: Promise<unknown>): Promise<BaseError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof BaseError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

describe("readBody", () => {
  test("parses a JSON body with the schema", async () => {
    expect<unknown>(await readBody(post('{"subnet":"ocr","count":2}'), Body)).toEqual({
      subnet: "ocr",
      count: 2,
    });
  });

  test("a body that is not JSON is INVALID_INPUT", async () => {
    const e = await refusal(readBody(post("{"), Body));
    expect([e.code, e.shortMessage]).toEqual(["INVALID_INPUT", "body is not valid JSON"]);
  });

  test("a body that breaks the schema names the field", async () => {
    const e = await refusal(readBody(post('{"subnet":"Bad Subnet","count":2}'), Body));
    expect(e.code).toBe("INVALID_INPUT");
    expect(e.shortMessage).toStartWith("invalid body: subnet: ");
  });

  test("the content type is checked only when asked", async () => {
    const text = '{"subnet":"ocr","count":2}';
    expect<unknown>(await readBody(post(text, "text/plain"), Body)).toEqual({ subnet: "ocr", count: 2 });
    const e = await refusal(readBody(post(text, "text/plain"), Body, { requireJsonType: true }));
    expect([e.code, e.status, e.shortMessage]).toEqual([
      "BAD_REQUEST",
      400,
      "send the body as application/json",
    ]);
    const ok = await readBody(post(text, "application/json; charset=utf-8"), Body, { requireJsonType: true });
    expect(ok.count).toBe(2);
  });
});

describe("readQuery", () => {
  const Query = v.object({ subnet: SubnetId, wait: v.optional(v.string()) });

  test("parses the query string, decoded, first value of a repeated key", () => {
    expect<unknown>(readQuery("http://x/p?subnet=ocr&wait=a%20b&subnet=other", Query)).toEqual({
      subnet: "ocr",
      wait: "a b",
    });
    expect<unknown>(readQuery(new URL("http://x/p?subnet=ocr&=x"), Query)).toEqual({ subnet: "ocr" });
  });

  test("a missing or bad value is INVALID_INPUT naming the field", () => {
    expect(() => readQuery("http://x/p", Query)).toThrow(/invalid query: subnet: /);
    expect(() => readQuery("http://x/p?subnet=NO%20WAY", Query)).toThrow(/invalid query: subnet: /);
  });
});
