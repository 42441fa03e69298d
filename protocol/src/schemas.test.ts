import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { privateKeyToAccount } from "viem/accounts";
import { BaseError, ERROR_STATUS, errorBody, errorFromBody } from "./errors.ts";
import { AgentLinkFrame, authMessage, Capabilities, HelloFrame, ResultFrame, TaskFrame } from "./frames.ts";
import { canonicalJson, hashOcrLines, hashTensors } from "./hashing.ts";
import { InferenceRequest, InferenceResponse, OcrRequest, Payment, ProgressEvent } from "./inference.ts";
import { ModelDescriptor, shapeMatches } from "./model.ts";
import { parseJson, parseOrThrow } from "./parse.ts";
import { Address, Bytes32, RequestId, Signature, SubnetId, UintString } from "./primitives.ts";
import { SignedReceipt } from "./receipt.ts";
import { recordSigningText, SignedRecord, verifyRecord } from "./records.ts";
import { tensorToJson } from "./tensor.ts";

const B32 = `0x${"ab".repeat(32)}`;
const ADDR = `0x${"12".repeat(20)}`;
const SIG = `0x${"cd".repeat(65)}`;
const tensor = tensorToJson({ dtype: "float32", dims: [1, 2], data: new Float32Array([1, 2]) });
const model = {
  id: "tiny-mlp",
  sha256: B32,
  size: 219,
  runtime: "onnx",
  sources: ["file:/models/tiny.onnx", "https://models.example/tiny.onnx"],
  inputs: [{ name: "x", dtype: "float32", dims: ["batch", 2] }],
  outputs: [{ name: "y", dtype: "float32", dims: ["batch", 2] }],
};
const receipt = {
  receipt: {
    requestId: B32,
    subnetId: B32,
    modelId: B32,
    modelHash: B32,
    inputHash: B32,
    outputHash: B32,
    agent: ADDR,
    price: "1000",
    startedAt: 1,
    finishedAt: 2,
  },
  signature: SIG,
};
const caps = {
  cores: 2,
  memoryMb: 24000,
  gpu: null,
  runtimes: ["onnx", "python"],
  cachedModels: [B32],
  maxConcurrency: 4,
  version: "0.1.0",
};

/** schema, a valid example, and malformed variants with the field their error must name. */
const cases: [string, v.GenericSchema, unknown, [unknown, string][]][] = [
  ["Bytes32", Bytes32, B32, [["0x12", "(root)"]]],
  ["Address", Address, ADDR, [[`0x${"zz".repeat(20)}`, "(root)"]]],
  ["Signature", Signature, SIG, [[B32, "(root)"]]],
  [
    "UintString",
    UintString,
    "123",
    [
      ["-1", "(root)"],
      ["01", "(root)"],
      // Found by the agent's frame fuzzing: a price past uint256 ran the model, then failed to sign.
      [(2n ** 256n).toString(), "(root)"],
      ["9".repeat(78), "(root)"],
      [`x${"9".repeat(80)}`, "(root)"],
    ],
  ],
  [
    "RequestId",
    RequestId,
    "req_1-A",
    [
      ["has space", "(root)"],
      ["", "(root)"],
    ],
  ],
  ["SubnetId", SubnetId, "ocr", [["UPPER", "(root)"]]],
  [
    "ModelDescriptor",
    ModelDescriptor,
    model,
    [
      [{ ...model, sha256: "nope" }, "sha256"],
      [{ ...model, runtime: "tf" }, "runtime"],
      [{ ...model, sources: ["ftp://x"] }, "sources[0]"],
      [{ ...model, sources: [] }, "sources"],
      [{ ...model, inputs: [{ name: "x", dtype: "float32", dims: [-1] }] }, "inputs[0].dims[0]"],
      [{ ...model, size: 0 }, "size"],
      // Found by the agent's frame fuzzing: an output named twice broke the inference worker.
      [{ ...model, outputs: [...model.outputs, ...model.outputs] }, "outputs"],
      [{ ...model, inputs: [...model.inputs, ...model.inputs] }, "inputs"],
    ],
  ],
  [
    "Payment",
    Payment,
    { mode: "session", sessionId: B32, cumulativeAmount: "10", signature: SIG },
    [
      [{ mode: "cash" }, "mode"],
      [{ mode: "session", sessionId: B32, cumulativeAmount: "x", signature: SIG }, "cumulativeAmount"],
    ],
  ],
  [
    "InferenceRequest",
    InferenceRequest,
    {
      subnet: "default",
      model: "tiny-mlp",
      inputs: { x: tensor },
      payment: { mode: "escrow" },
      requestId: "r1",
    },
    [
      [{ subnet: "default", model: "tiny-mlp", inputs: { x: { ...tensor, dims: [3] } } }, "inputs.x"],
      [{ subnet: "default", inputs: {} }, "model"],
      [{ subnet: "default", model: "tiny-mlp", inputs: {}, timeoutMs: 5 }, "timeoutMs"],
    ],
  ],
  [
    "OcrRequest",
    OcrRequest,
    { subnet: "ocr", image: "iVBORw0KGgo=" },
    [[{ subnet: "ocr", image: "***" }, "image"]],
  ],
  [
    "InferenceResponse",
    InferenceResponse,
    {
      requestId: "r1",
      state: "returned",
      subnet: "ocr",
      model: "ppocr-v4",
      price: "5",
      createdAt: 1,
      updatedAt: 2,
      result: {
        kind: "ocr",
        lines: [
          {
            text: "hi",
            score: 0.9,
            box: [
              [0, 0],
              [1, 0],
              [1, 1],
              [0, 1],
            ],
          },
        ],
      },
      receipt,
      attestations: [{ validator: ADDR, phase: 1, subject: B32, outputHash: B32, signature: SIG }],
    },
    [[{ requestId: "r1", state: "done" }, "state"]],
  ],
  [
    "ProgressEvent",
    ProgressEvent,
    { requestId: "r1", state: "dispatched", at: 1, progress: 0.5 },
    [[{ requestId: "r1", state: "dispatched", at: 1, progress: 2 }, "progress"]],
  ],
  [
    "SignedReceipt",
    SignedReceipt,
    receipt,
    [[{ ...receipt, receipt: { ...receipt.receipt, price: 5 } }, "receipt.price"]],
  ],
  ["Capabilities", Capabilities, caps, [[{ ...caps, maxConcurrency: 0 }, "maxConcurrency"]]],
  [
    "HelloFrame",
    HelloFrame,
    { type: "hello", v: 1, agent: ADDR, nonce: B32, signature: SIG, subnets: ["ocr"], capabilities: caps },
    [
      [
        { type: "hello", v: 1, agent: ADDR, nonce: B32, signature: SIG, subnets: [], capabilities: caps },
        "subnets",
      ],
    ],
  ],
  [
    "TaskFrame",
    TaskFrame,
    {
      type: "task",
      taskId: "r1:0",
      requestId: "r1",
      subnet: "default",
      model,
      price: "1",
      deadline: 5,
      kind: "tensor",
      inputs: { x: tensor },
    },
    [
      [
        {
          type: "task",
          taskId: "r1:0",
          requestId: "r1",
          subnet: "default",
          model,
          price: "1",
          deadline: 5,
          kind: "tensor",
        },
        "inputs",
      ],
    ],
  ],
  [
    "ResultFrame",
    ResultFrame,
    {
      type: "result",
      taskId: "r1:0",
      result: { kind: "tensor", outputs: { y: tensor } },
      receipt,
      computeMs: 3,
    },
    [
      [
        {
          type: "result",
          taskId: "r1:0",
          result: { kind: "tensor", outputs: { y: tensor } },
          receipt: {},
          computeMs: 3,
        },
        "receipt.receipt",
      ],
    ],
  ],
  [
    "AgentLinkFrame",
    AgentLinkFrame,
    { type: "heartbeat", load: { running: 1, queued: 0 } },
    [
      [{ type: "teleport" }, "type"],
      [{ type: "heartbeat", load: { running: -1, queued: 0 } }, "load.running"],
      [{ type: "cancel", taskId: "bad id!", reason: "x" }, "taskId"],
    ],
  ],
];

test("UintString takes every uint256, up to 2^256 - 1", () => {
  expect(v.is(UintString, (2n ** 256n - 1n).toString())).toBe(true);
  expect(v.is(UintString, "0")).toBe(true);
});

describe("schemas accept valid examples and name the bad field", () => {
  for (const [name, schema, valid, bad] of cases) {
    test(name, () => {
      expect(v.safeParse(schema, valid).success).toBe(true);
      for (const [input, field] of bad) {
        let err: unknown;
        try {
          parseOrThrow(schema, input, name);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(BaseError);
        const be = err as BaseError;
        expect(be.code).toBe("INVALID_INPUT");
        expect(be.message).toContain(`invalid ${name}: ${field}`);
      }
    });
  }
});

describe("records", () => {
  const owner = privateKeyToAccount("0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba");
  const unsigned = {
    kind: "subnet" as const,
    key: "ocr",
    seq: 3,
    owner: owner.address.toLowerCase(),
    body: {
      id: "ocr",
      name: "OCR",
      owner: owner.address.toLowerCase(),
      models: [{ id: "ppocr-v4", price: "100" }],
    },
  };
  test("a record signed by its owner verifies; a forged or tampered one is refused", async () => {
    const signature = await owner.signMessage({
      message: recordSigningText(v.parse(SignedRecord, { ...unsigned, signature: SIG })),
    });
    const rec = await verifyRecord({ ...unsigned, signature });
    expect(rec.seq).toBe(3);
    await expect(verifyRecord({ ...unsigned, seq: 4, signature })).rejects.toMatchObject({
      code: "SIGNATURE_INVALID",
    });
    await expect(verifyRecord({ ...unsigned, signature: SIG })).rejects.toMatchObject({
      code: "SIGNATURE_INVALID",
    });
    await expect(verifyRecord({ ...unsigned, kind: "planet", signature })).rejects.toMatchObject({
      code: "INVALID_INPUT",
    });
    await expect(verifyRecord({ ...unsigned, expiresAt: 10, signature })).rejects.toMatchObject({
      code: "SIGNATURE_INVALID",
    });
  });
  test("an expired record is refused as stale", async () => {
    const r = { ...unsigned, expiresAt: 1000 };
    const signature = await owner.signMessage({
      message: recordSigningText(v.parse(SignedRecord, { ...r, signature: SIG })),
    });
    await expect(verifyRecord({ ...r, signature }, 2000)).rejects.toMatchObject({ code: "STALE_RECORD" });
    expect((await verifyRecord({ ...r, signature }, 999)).expiresAt).toBe(1000);
  });
});

describe("hashing and helpers", () => {
  test("canonical JSON sorts keys and refuses non-finite numbers", () => {
    expect(canonicalJson({ b: 1, a: [true, null, "x"], c: undefined })).toBe('{"a":[true,null,"x"],"b":1}');
    expect(() => canonicalJson({ x: Number.NaN })).toThrow(BaseError);
  });
  test("tensor hashes ignore insertion order but not content", () => {
    const a = { dtype: "float32" as const, dims: [1], data: new Float32Array([1]) };
    const b = { dtype: "float32" as const, dims: [1], data: new Float32Array([2]) };
    expect(hashTensors({ a, b })).toBe(hashTensors({ b, a }));
    expect(hashTensors({ a, b })).not.toBe(hashTensors({ a: b, b: a }));
  });
  test("OCR output hash tolerates last-digit float noise but not text changes", () => {
    const line = {
      text: "hello",
      score: 0.91234,
      box: [
        [0.2, 0],
        [10.1, 0],
        [10, 5],
        [0, 5],
      ] as [number, number][],
    };
    const box = line.box as [[number, number], [number, number], [number, number], [number, number]];
    const h1 = hashOcrLines([{ ...line, box }]);
    expect(hashOcrLines([{ ...line, score: 0.91236, box }])).toBe(h1);
    expect(hashOcrLines([{ ...line, text: "hallo", box }])).not.toBe(h1);
  });
  test("symbolic axes match any size but must agree within a shape", () => {
    expect(shapeMatches(["batch", 2], [7, 2])).toBe(true);
    expect(shapeMatches(["batch", 2], [7, 3])).toBe(false);
    expect(shapeMatches(["n", "n"], [3, 4])).toBe(false);
    expect(shapeMatches([2], [2, 1])).toBe(false);
  });
  test("error bodies round-trip and carry their HTTP status", () => {
    const e = new BaseError("PAYMENT_REQUIRED", "pay first", { details: { amount: "5" } });
    expect(e.status).toBe(402);
    const back = errorFromBody(JSON.parse(JSON.stringify(e.toBody())));
    expect(back.code).toBe("PAYMENT_REQUIRED");
    expect(back.details).toEqual({ amount: "5" });
    expect(errorFromBody({ nope: 1 }, 503).code).toBe("INTERNAL");
    expect(errorBody("NOT_FOUND", "x")).toEqual({
      error: { code: "NOT_FOUND", message: "x", type: "invalid_request_error", param: null },
    });
    // The OpenAI envelope's type by status, and param from the field a detail names.
    expect(errorBody("INSUFFICIENT_FUNDS", "spent").error.type).toBe("insufficient_quota");
    expect(errorBody("UNAUTHORIZED", "who").error.type).toBe("authentication_error");
    expect(errorBody("RATE_LIMITED", "slow").error.type).toBe("rate_limit_error");
    expect(errorBody("UNAVAILABLE", "down").error.type).toBe("server_error");
    expect(errorBody("INVALID_INPUT", "bad", { field: "messages" }).error.param).toBe("messages");
    for (const status of Object.values(ERROR_STATUS)) expect(status >= 400 && status < 600).toBe(true);
  });
  test("parseJson turns a syntax error into INVALID_INPUT", () => {
    expect(() => parseJson("{", "body")).toThrow(/body is not valid JSON/);
  });
  test("authMessage binds gateway and nonce", () => {
    expect(authMessage("0x01", "ws://a")).not.toBe(authMessage("0x01", "ws://b"));
  });
});
