import { expect, test } from "bun:test";
import { OnnxRuntime } from "./onnx-runtime.ts";
import { NO_SPINNING } from "./session-guard.ts";

test("sessions do not let onnxruntime's threads spin unless asked: an agent shares its machine", async () => {
  const quiet = await OnnxRuntime.create({ executionProvider: "cpu" });
  const spinning = await OnnxRuntime.create({ executionProvider: "cpu", spinning: true });
  try {
    const extra = (rt: OnnxRuntime) => rt.sessionOptions().extra as Record<string, string>;
    expect(extra(quiet)).toMatchObject(NO_SPINNING);
    expect(extra(spinning)).toMatchObject({
      "session.intra_op.allow_spinning": "1",
      "session.inter_op.allow_spinning": "1",
    });
    // Guarded either way.
    expect(extra(spinning)["session.load_model_format"]).toBe("ONNX");
  } finally {
    await quiet.close();
    await spinning.close();
  }
});
