import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ErrorBody } from "@ncn/protocol";
import { bodyText, fuzzBodies, hostileValue, mutatedBody, truncatedJson } from "@ncn/protocol/testing/fuzz";
import fc from "fast-check";
import * as v from "valibot";
import { FuzzTarget, fuzzParams, post } from "../test-support/fuzz-target.ts";
import { validationSocket } from "../test-support/gateway.ts";
import { addressOf } from "../test-support/records.ts";
import { DEFAULT_SOCKET_LIMITS } from "./socket-limits.ts";

// Property-based tests over the validation API (preprocess, completion, completion batch,
// stream, settlement), the mempool and the validation socket, as the trusted gateway,
// against a real validator node with a real chain. Each base body fails a check no
// one-field change can pass (a forged voucher, receipt or agent batch, an unfunded payment,
// a request never pre-attested), so nothing may ever be attested: every answer is a typed
// 4xx error, never a 5xx, and no store changes.

const t = new FuzzTarget();

beforeAll(() => t.start(), 60_000);
afterAll(() => t.stop());

describe("fuzzed validation routes answer typed 4xx errors and attest nothing", () => {
  test("POST /v1/validate/preprocess: forged vouchers, missing escrows, unregistered agents", async () => {
    const forgedVoucher = await t.preprocessBody("fz-pre-1");
    const escrow = { ...forgedVoucher, requestId: "fz-pre-2", payment: { mode: "escrow" } };
    const unregistered = await t.preprocessBody("fz-pre-3", t.client, t.stranger);
    await t.fuzzPost(
      "/v1/validate/preprocess",
      fc.oneof(fuzzBodies(forgedVoucher), fuzzBodies(escrow), fuzzBodies(unregistered)),
      true,
    );
  }, 600_000);

  test("POST /v1/validate/completion: forged receipts and unattested requests", async () => {
    const [forged, unattested] = await t.completionBases();
    await t.fuzzPost("/v1/validate/completion", fc.oneof(fuzzBodies(forged), fuzzBodies(unattested)), true);
  }, 600_000);

  test("POST /v1/validate/completion/batch", async () => {
    const [forged, unattested] = await t.completionBases();
    await t.fuzzPost(
      "/v1/validate/completion/batch",
      fc.oneof(fuzzBodies({ items: [forged, unattested] }), fuzzBodies({ items: [forged] })),
      true,
    );
  }, 600_000);

  test("POST /v1/validate/stream: forged vouchers and forged agent batches", async () => {
    const [forgedVoucher, forgedBatch] = await t.streamBases("fz-stream-1");
    await t.fuzzPost(
      "/v1/validate/stream",
      fc.oneof(fuzzBodies(forgedVoucher), fuzzBodies(forgedBatch)),
      true,
    );
  }, 600_000);

  test("POST /v1/validate/settlement: receipts never attested, forged vouchers", async () => {
    const base = {
      batchId: `0x${"5a".repeat(32)}`,
      gateway: t.gateway,
      receiptsRoot: `0x${"6b".repeat(32)}`,
      receiptDigests: [`0x${"6b".repeat(32)}`],
      sessions: [
        { sessionId: t.sessionId, voucherAmount: "100", voucherSignature: await t.voucher(t.stranger) },
      ],
      payouts: [{ node: addressOf(t.agent), amount: "100" }],
    };
    await t.fuzzPost("/v1/validate/settlement", fuzzBodies(base), true);
  }, 600_000);
});

describe("fuzzed mempool submissions", () => {
  test("POST /v1/mempool: malformed work gets a typed 4xx; well-formed work is queued and never attested", async () => {
    const forgedVoucher = await t.preprocessBody("fz-mempool-1");
    const [forged] = await t.completionBases();
    const bodies = fc.oneof(
      fuzzBodies({ phase: 0, request: forgedVoucher }),
      fuzzBodies({ phase: 1, request: forged }),
      mutatedBody({ phase: 0, request: forgedVoucher }, fc.constantFrom(1, 0, "0", null)),
    );
    const node = t.node;
    const attestations = node.attestations.count();
    await fc.assert(
      fc.asyncProperty(bodies, async (b) => {
        const before = node.mempool.list().length;
        const res = await t.send("/v1/mempool", post(b, { authorization: t.authorization }));
        const text = await res.text();
        if (res.status === 202) return;
        if (res.status < 400 || res.status >= 500)
          throw new Error(`/v1/mempool answered ${res.status}: ${text}`);
        if (!v.is(ErrorBody, JSON.parse(text))) throw new Error(`/v1/mempool: untyped error ${text}`);
        if (node.mempool.list().length !== before)
          throw new Error("a refused submission entered the mempool");
      }),
      fuzzParams,
    );
    // Let queued work be validated: every item is refused, none attested.
    const until = Date.now() + 30_000;
    while (node.mempool.list().some((e) => e.status === "pending") && Date.now() < until) await Bun.sleep(50);
    const statuses = new Set(node.mempool.list().map((e) => e.status));
    expect(statuses.has("attested")).toBe(false);
    expect(node.attestations.count()).toBe(attestations);
  }, 600_000);
});

/** Frames are sent at most this often: half the socket's allowed message rate. */
const FRAME_GAP_MS = 1000 / (DEFAULT_SOCKET_LIMITS.messagesPerSecond / 2);

describe("fuzzed validation socket frames", () => {
  test("every frame gets a typed refusal with its id; the socket and the node stay up", async () => {
    const [forgedVoucher, forgedBatch] = await t.streamBases("fz-ws-1");
    const frame = fc.oneof(
      { arbitrary: mutatedBody({ id: 1, op: "stream", body: forgedVoucher }), weight: 4 },
      { arbitrary: mutatedBody({ id: 2, op: "stream", body: forgedBatch }), weight: 4 },
      { arbitrary: hostileValue, weight: 1 },
      { arbitrary: truncatedJson({ id: 3, op: "stream", body: forgedBatch }), weight: 1 },
    );
    const ws = await validationSocket(t.gatewayAccount, t.node.url);
    const replies: unknown[] = [];
    let waiter: (() => void) | undefined;
    ws.addEventListener("message", (e) => {
      replies.push(JSON.parse(String(e.data)));
      waiter?.();
    });
    let closed: string | undefined;
    ws.addEventListener("close", (e) => {
      closed = `${e.code} ${e.reason}`;
      waiter?.();
    });
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener("error", reject, { once: true });
    });
    const Reply = v.object({ id: v.number(), ok: v.literal(false), error: ErrorBody.entries.error });
    const before = t.storeSnapshot();
    const t0 = Date.now();
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(frame, async (f) => {
        const seen = replies.length;
        // Below the socket's message rate (DEFAULT_SOCKET_LIMITS): past it the node closes the socket, as it should.
        const at = t0 + sent++ * FRAME_GAP_MS;
        if (Date.now() < at) await Bun.sleep(at - Date.now());
        ws.send(bodyText(f));
        const until = Date.now() + 30_000;
        while (replies.length === seen && !closed && Date.now() < until) {
          await new Promise<void>((r) => {
            waiter = r;
            setTimeout(r, 100);
          });
        }
        if (closed !== undefined) throw new Error(`the validation socket closed (${closed})`);
        const reply = v.parse(Reply, replies[seen]);
        if (reply.error.code === "INTERNAL") throw new Error(`internal error: ${reply.error.message}`);
        const id = typeof f === "object" && f !== null && "id" in f ? f.id : undefined;
        if (reply.id !== -1 && reply.id !== id)
          throw new Error(`reply id ${reply.id} for frame id ${String(id)}`);
      }),
      fuzzParams,
    );
    ws.close();
    expect(t.storeSnapshot()).toBe(before);
    expect((await t.send("/health", {})).status).toBe(200);
  }, 600_000);
});
