import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { decodeFrame } from "./frame-codec.ts";
import { AgentToGatewayFrame, MAX_FRAME_BYTES, TaskFrame } from "./frames.ts";
import { readRequestEvents, sseEvent } from "./request-events.ts";
import { GENERATE_LIMITS } from "./tasks/generate.ts";

const requestId = "req-1";
const tokens = (deltas: unknown[]) =>
  JSON.stringify({ type: "tokens", taskId: "req-1:1", requestId, deltas });
const delta = (index: number, text = "a") => ({ index, token: 7, text });

describe("tokens frame", () => {
  test("a run of consecutive deltas decodes, the last flush with a null token", () => {
    const r = decodeFrame(
      AgentToGatewayFrame,
      tokens([delta(3, "Hel"), delta(4, "lo"), { index: 5, token: null, text: "!" }]),
      MAX_FRAME_BYTES,
    );
    expect(r.ok).toBe(true);
    if (r.ok && r.frame.type === "tokens") expect(r.frame.deltas.map((d) => d.text).join("")).toBe("Hello!");
  });

  test("gaps, empty batches, oversized batches and oversized texts are refused", () => {
    const refused = (deltas: unknown[]) => {
      const r = decodeFrame(AgentToGatewayFrame, tokens(deltas), MAX_FRAME_BYTES);
      return r.ok ? "accepted" : r.error.shortMessage;
    };
    expect(refused([delta(0), delta(2)])).toContain("consecutive");
    expect(refused([delta(1), delta(0)])).toContain("consecutive");
    expect(refused([])).toContain("at least one delta");
    const many = Array.from({ length: GENERATE_LIMITS.deltasPerFrame + 1 }, (_, i) => delta(i));
    expect(refused(many)).toContain("deltas");
    expect(refused(many.slice(1))).toBe("accepted");
    expect(refused([delta(0, "x".repeat(GENERATE_LIMITS.deltaChars + 1))])).toContain("text");
    expect(refused([delta(GENERATE_LIMITS.maxTokens + 1)])).toContain("index");
    expect(refused([{ index: 0, token: -1, text: "" }])).toContain("token");
  });

  test("a generate task may ask for streaming; the flag is kept", () => {
    const task = {
      type: "task",
      taskId: "t:1",
      requestId,
      subnet: "chat",
      model: {
        id: "ncn-gpt",
        sha256: `0x${"ab".repeat(32)}`,
        size: 1,
        runtime: "onnx",
        sources: ["file:/ncn-gpt.onnx"],
        inputs: [],
        outputs: [],
      },
      price: "1",
      deadline: 1,
      kind: "generate",
      prompt: "Once",
      sampling: {},
      stream: true,
    };
    const parsed = v.parse(TaskFrame, task);
    expect(parsed.kind === "generate" && parsed.stream).toBe(true);
  });
});

function body(text: string, chunk = 7): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(c) {
      for (let i = 0; i < bytes.length; i += chunk) c.enqueue(bytes.slice(i, i + chunk));
      c.close();
    },
  });
}

describe("readRequestEvents", () => {
  const final = {
    requestId,
    state: "returned",
    subnet: "chat",
    model: "ncn-gpt",
    price: "1",
    createdAt: 1,
    updatedAt: 2,
  };

  test("progress, token and final events come back typed, split however the bytes arrive", async () => {
    const text = [
      sseEvent("progress", { requestId, state: "dispatched", at: 1 }),
      sseEvent("token", { requestId, index: 0, token: 5, text: "Hi" }),
      sseEvent("token", { requestId, index: 1, token: null, text: "!" }),
      sseEvent("final", final),
      sseEvent("token", { requestId, index: 2, token: 9, text: "after the end" }),
    ].join("");
    const got = [];
    for await (const e of readRequestEvents(body(text))) got.push(e);
    expect(got.map((e) => e.type)).toEqual(["progress", "token", "token", "final"]);
    expect<unknown>(got[2]).toEqual({
      type: "token",
      event: { requestId, index: 1, token: null, text: "!" },
    });
    expect<unknown>(got[3]).toEqual({ type: "final", response: { ...final, state: "returned" } });
  });

  test("unknown events and data that breaks its schema are skipped; a cut-off body just ends", async () => {
    const text = [
      "event: ping\ndata: {}\n\n",
      "event: token\ndata: not json\n\n",
      sseEvent("token", { requestId, index: -1, token: 1, text: "" }),
      sseEvent("token", { requestId, index: 0, token: 1, text: "ok" }),
    ].join("");
    const got = [];
    for await (const e of readRequestEvents(body(text, 3))) got.push(e);
    expect<unknown>(got).toEqual([{ type: "token", event: { requestId, index: 0, token: 1, text: "ok" } }]);
  });
});
