import { describe, expect, test } from "bun:test";
import { decodeFrame, FrameDecodeError } from "./frame-codec.ts";
import { AgentToGatewayFrame, GatewayToAgentFrame, TaskId } from "./frames.ts";
import { StreamClientFrame, StreamInferFrame } from "./stream.ts";

const heartbeat = { type: "heartbeat", load: { running: 1, queued: 0 } };

describe("decodeFrame", () => {
  test("a good frame comes back typed, unknown keys dropped", () => {
    const r = decodeFrame(AgentToGatewayFrame, JSON.stringify({ ...heartbeat, extra: 1 }), 1024);
    expect<unknown>(r).toEqual({ ok: true, frame: heartbeat });
    if (r.ok && r.frame.type === "heartbeat") expect(r.frame.load.running).toBe(1);
  });

  test("binary data is not a frame", () => {
    const r = decodeFrame(AgentToGatewayFrame, new ArrayBuffer(4), 1024);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toBeInstanceOf(FrameDecodeError);
    expect(r.error.problem).toBe("not_text");
    expect(r.error.code).toBe("FRAME_INVALID");
    expect(r.error.shortMessage).toBe("frames must be JSON text of at most 1024 bytes");
  });

  test("text past the limit is refused before it is parsed", () => {
    const text = JSON.stringify(heartbeat);
    expect(decodeFrame(AgentToGatewayFrame, text, text.length).ok).toBe(true);
    const r = decodeFrame(AgentToGatewayFrame, text, text.length - 1);
    expect(r.ok ? undefined : r.error.problem).toBe("too_large");
  });

  test("text that is not JSON", () => {
    const r = decodeFrame(GatewayToAgentFrame, "{", 1024);
    expect(r.ok ? undefined : [r.error.problem, r.error.shortMessage, r.error.raw]).toEqual([
      "not_json",
      "frame is not valid JSON",
      undefined,
    ]);
  });

  test("a frame that breaks the schema names the first bad field and keeps every issue", () => {
    const r = decodeFrame(GatewayToAgentFrame, JSON.stringify({ type: "ack", taskId: "bad id!" }), 1024);
    if (r.ok) throw new Error("expected a refusal");
    expect(r.error.problem).toBe("invalid");
    expect(r.error.shortMessage).toStartWith("invalid frame: taskId: ");
    expect(r.error.details).toEqual({ issues: [expect.objectContaining({ path: "taskId" })] });
    expect(r.error.raw).toEqual({ type: "ack", taskId: "bad id!" });
  });

  test("an unknown frame type is refused at the root", () => {
    const r = decodeFrame(AgentToGatewayFrame, JSON.stringify({ type: "nope" }), 1024);
    expect(r.ok ? undefined : r.error.shortMessage).toStartWith("invalid frame: type: ");
    const root = decodeFrame(AgentToGatewayFrame, "42", 1024);
    expect(root.ok ? undefined : root.error.shortMessage).toStartWith("invalid frame: (root): ");
  });
});

describe("FrameDecodeError.field", () => {
  const refused = (text: string) => {
    const r = decodeFrame(StreamClientFrame, text, 4096);
    if (r.ok) throw new Error("expected a refusal");
    return r.error;
  };

  test("gives the id a bad frame named when the id itself is well formed", () => {
    const e = refused(JSON.stringify({ type: "infer", id: "req-1", model: "m" }));
    expect(e.field("id", StreamInferFrame.entries.id)).toBe("req-1");
  });

  test("gives nothing for a malformed, missing or non-string id, or a frame that was not JSON", () => {
    const StreamId = StreamInferFrame.entries.id;
    expect(
      refused(JSON.stringify({ type: "infer", id: "x".repeat(65) })).field("id", StreamId),
    ).toBeUndefined();
    expect(refused(JSON.stringify({ type: "infer", taskId: "a b" })).field("taskId", TaskId)).toBeUndefined();
    expect(refused(JSON.stringify({ type: "infer" })).field("id", TaskId)).toBeUndefined();
    expect(refused(JSON.stringify({ type: "infer", id: 7 })).field("id", TaskId)).toBeUndefined();
    expect(refused("[1]").field("id", TaskId)).toBeUndefined();
    expect(refused("not json").field("id", TaskId)).toBeUndefined();
  });
});
