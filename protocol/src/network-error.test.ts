import { expect, test } from "bun:test";
import { createPublicClient, http } from "viem";
import { BaseError } from "./errors.ts";
import { networkErrorOf } from "./network-error.ts";

/** A loopback port that was just listening and no longer is. */
function closedPort(): number {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = server.port as number;
  server.stop(true);
  return port;
}

async function thrown(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

test("a refused fetch is UNAVAILABLE, naming the URL and the reason", async () => {
  const url = `http://127.0.0.1:${closedPort()}/v1/network`;
  const err = networkErrorOf(await thrown(fetch(url)), { what: "the gateway" });
  expect(err).toBeInstanceOf(BaseError);
  expect(err?.code).toBe("UNAVAILABLE");
  expect(err?.shortMessage).toBe(`cannot reach the gateway at ${url}: connection refused (ECONNREFUSED)`);
  expect(err?.details).toMatchObject({ url, reason: "connection refused" });
});

test("a chain client's failed request is found through viem's cause chain", async () => {
  const rpc = `http://127.0.0.1:${closedPort()}/`;
  const client = createPublicClient({ transport: http(rpc, { retryCount: 0 }) });
  const err = networkErrorOf(await thrown(client.getBlockNumber()));
  expect(err?.code).toBe("UNAVAILABLE");
  expect(err?.shortMessage).toBe(`cannot reach the server at ${rpc}: connection refused (ECONNREFUSED)`);
});

test("other errors, answers included, are left alone", () => {
  expect(networkErrorOf(new Error("boom"))).toBeUndefined();
  expect(networkErrorOf(new BaseError("INSUFFICIENT_FUNDS", "spent"))).toBeUndefined();
  expect(networkErrorOf(Object.assign(new Error("x"), { code: "ERR_SOMETHING" }))).toBeUndefined();
  expect(networkErrorOf(undefined)).toBeUndefined();
  // A reason found deep in the chain (Node's fetch: TypeError("fetch failed", { cause })).
  const nodeStyle = new TypeError("fetch failed", {
    cause: Object.assign(new Error("getaddrinfo"), { code: "ENOTFOUND" }),
  });
  expect(networkErrorOf(nodeStyle, { url: "https://gw.example/v1/x" })?.shortMessage).toBe(
    "cannot reach the server at https://gw.example/v1/x: host not found (ENOTFOUND)",
  );
});

test("a connection lost after the request may have gone out is not taken as a failure", () => {
  // Its outcome is unknown: a client must read the request back, not count it failed.
  const reset = Object.assign(new TypeError("socket hang up"), { code: "ECONNRESET" });
  expect(networkErrorOf(reset)).toBeUndefined();
  // For a person to read (the CLI), it is said as it is.
  const said = networkErrorOf(reset, {
    url: "http://127.0.0.1:8787/v1/inference",
    what: "the gateway",
    lost: true,
  });
  expect(said?.code).toBe("UNAVAILABLE");
  expect(said?.shortMessage).toBe(
    "lost the connection to the gateway at http://127.0.0.1:8787/v1/inference: connection reset (ECONNRESET); the request may have been received",
  );
  expect(said?.details).toMatchObject({ sent: "unknown" });
});
