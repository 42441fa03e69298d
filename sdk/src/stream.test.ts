import { afterEach, expect, test } from "bun:test";
import { ncnDomain, tensorToJson, typedData } from "@ncn/protocol";
import type { Server } from "bun";
import { recoverTypedDataAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { NcnStream } from "./stream.ts";

// A lying gateway (the other side may lie): a stand-in WebSocket server that speaks the
// stream protocol honestly except where each test says it lies.

const domain = ncnDomain(31337, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
const sessionId = `0x${"ab".repeat(32)}` as const;
const ZERO = `0x${"00".repeat(32)}` as const;
const SIG = `0x${"11".repeat(65)}` as const;
const AGENT = `0x${"22".repeat(20)}` as const;
const PRICE = 10n;

let server: Server<undefined> | undefined;
afterEach(() => {
  server?.stop(true);
  server = undefined;
});

interface Seen {
  auth: string | undefined;
  vouchers: bigint[];
}

/** Starts the stand-in: it answers every request, then reports `reportCharged(n)` as charged. */
function lyingGateway(
  reportCharged: (delivered: number) => bigint,
  nonce: `0x${string}`,
  chargedAtOpen = 0n,
): { url: string; seen: Seen } {
  const seen: Seen = { auth: undefined, vouchers: [] };
  let delivered = 0;
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      return srv.upgrade(req) ? undefined : new Response("expected a WebSocket", { status: 400 });
    },
    websocket: {
      open(ws) {
        ws.send(JSON.stringify({ type: "challenge", v: 2, nonce }));
      },
      message(ws, data) {
        const frame = JSON.parse(String(data)) as {
          type: string;
          signature?: string;
          amount?: string;
          id?: string;
          frames?: { id: string }[];
        };
        if (frame.type === "auth") {
          seen.auth = frame.signature;
          ws.send(
            JSON.stringify({
              type: "ready",
              v: 2,
              sessionId,
              subnet: "default",
              authorised: "0",
              charged: chargedAtOpen.toString(),
              maxInFlight: 1024,
            }),
          );
          return;
        }
        if (frame.type === "voucher") {
          seen.vouchers.push(BigInt(frame.amount ?? "0"));
          return;
        }
        const ids = frame.type === "many" ? (frame.frames ?? []).map((f) => f.id) : [frame.id ?? ""];
        delivered += ids.length;
        ws.send(
          JSON.stringify({
            type: "results",
            receiptsRoot: ZERO,
            attestations: [],
            results: ids.map((id) => ({
              id,
              requestId: `req-${id}`,
              price: PRICE.toString(),
              result: {
                kind: "tensor",
                outputs: { y: tensorToJson({ dtype: "float32", dims: [1], data: new Float32Array([1]) }) },
              },
              receipt: {
                requestId: ZERO,
                subnetId: ZERO,
                modelId: ZERO,
                modelHash: ZERO,
                inputHash: ZERO,
                outputHash: ZERO,
                agent: AGENT,
                price: PRICE.toString(),
                startedAt: 1,
                finishedAt: 2,
              },
              agentBatch: {
                batch: { agent: AGENT, receiptsRoot: ZERO, count: 1, signature: SIG },
                proof: [],
              },
              proof: [],
            })),
          }),
        );
        ws.send(
          JSON.stringify({
            type: "charged",
            total: reportCharged(delivered).toString(),
            requests: ids.length,
          }),
        );
      },
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen };
}

/** Waits (at most 2 s) for the stand-in to have received what the client sent. */
async function received(seen: Seen, amount: (a: bigint) => boolean): Promise<void> {
  const until = Date.now() + 2000;
  while (!seen.vouchers.some(amount) && Date.now() < until) await Bun.sleep(5);
}

const x = { x: { dtype: "float32" as const, dims: [1, 1], data: new Float32Array([1]) } };

/** A stream on the test session with a window of 1000 (more options in `extra`). */
function openOn(
  gatewayUrl: string,
  account: ReturnType<typeof privateKeyToAccount>,
  extra: Partial<Parameters<typeof NcnStream.open>[0]> = {},
) {
  return NcnStream.open({
    gatewayUrl,
    sessionId,
    subnet: "default",
    account,
    domain,
    window: 1000n,
    ...extra,
  });
}

test("the stream answers the gateway's challenge with the session client's StreamAuth signature", async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const nonce = `0x${"cd".repeat(32)}` as const;
  const gw = lyingGateway((n) => BigInt(n) * PRICE, nonce);
  const stream = await openOn(gw.url, account);
  await stream.close();
  const signer = await recoverTypedDataAddress({
    ...typedData(domain, "StreamAuth", { sessionId, nonce }),
    signature: gw.seen.auth as `0x${string}`,
  });
  expect(signer).toBe(account.address);
});

test("a gateway reporting more charged than the results it delivered gets a voucher for what was delivered only", async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  // The gateway claims five times what it delivered.
  const gw = lyingGateway((n) => 5n * BigInt(n) * PRICE, `0x${"cd".repeat(32)}`);
  const stream = await openOn(gw.url, account);
  await stream.infer("tiny", x);
  await stream.infer("tiny", x);
  await stream.close();
  const window = 1000n;
  await received(gw.seen, (a) => a !== window);
  const acknowledgements = gw.seen.vouchers.filter((a) => a !== window);
  expect(acknowledgements.length).toBeGreaterThan(0);
  expect(acknowledgements.every((a) => a <= 2n * PRICE)).toBe(true);
  expect(acknowledgements.at(-1)).toBe(2n * PRICE);
  expect(stream.charged).toBe(2n * PRICE);
});

test("a charged total at open above what the client received is not taken as acknowledged", async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  // The gateway says four results were charged before this stream (say, results it wrote
  // down and then died before they reached the client); this client received none.
  const before = 4n * PRICE;
  const gw = lyingGateway((n) => before + BigInt(n) * PRICE, `0x${"cd".repeat(32)}`, before);
  const got: bigint[] = [];
  const stream = await openOn(gw.url, account, {
    receivedBefore: 0n,
    onReceived: (price) => got.push(price),
  });
  await stream.infer("tiny", x);
  await stream.infer("tiny", x);
  await stream.close();
  const window = 1000n;
  await received(gw.seen, (a) => a === 2n * PRICE);
  const acknowledgements = gw.seen.vouchers.filter((a) => a !== window);
  expect(acknowledgements.length).toBeGreaterThan(0);
  expect(acknowledgements.every((a) => a <= 2n * PRICE)).toBe(true);
  expect(stream.charged).toBe(2n * PRICE);
  expect(got).toEqual([PRICE, PRICE]);
});

test("an honest charged total is acknowledged exactly", async () => {
  const account = privateKeyToAccount(generatePrivateKey());
  const gw = lyingGateway((n) => BigInt(n) * PRICE, `0x${"cd".repeat(32)}`);
  const stream = await openOn(gw.url, account);
  for (let i = 0; i < 3; i++) await stream.infer("tiny", x);
  await stream.close();
  await received(gw.seen, (a) => a === 3n * PRICE);
  expect(gw.seen.vouchers.at(-1)).toBe(3n * PRICE);
});

test("opening a stream while the gateway is down fails with a typed error and leaves nothing unhandled", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on("unhandledRejection", onUnhandled);
  try {
    // A port nothing listens on (the gateway's process died).
    const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const port = probe.port;
    probe.stop(true);
    await expect(
      NcnStream.open({
        gatewayUrl: `http://127.0.0.1:${port}`,
        sessionId,
        subnet: "default",
        account: privateKeyToAccount(generatePrivateKey()),
        domain,
      }),
    ).rejects.toMatchObject({ code: "UNAVAILABLE" });
    await new Promise((r) => setTimeout(r, 100));
    expect(unhandled).toEqual([]);
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});
