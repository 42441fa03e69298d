import type { InferenceResponse, TaskFrame } from "@ncn/protocol";
import type { RequestRecord } from "./types.ts";

/** What the request's payer is told: the result and its receipt only once it is returned. */
export function responseOf(req: RequestRecord): InferenceResponse {
  const released = req.state === "returned";
  const r: InferenceResponse = {
    requestId: req.requestId as InferenceResponse["requestId"],
    state: req.state,
    subnet: req.subnet as InferenceResponse["subnet"],
    model: req.descriptor.id,
    // Once returned, what it is charged (the receipt's price); before, the most it may cost.
    price: released && req.receipt ? req.receipt.receipt.price : req.price,
    createdAt: req.createdAt,
    updatedAt: req.updatedAt,
  };
  if (req.pricing) r.maxPrice = req.price;
  if (req.task) r.agent = req.task.agent;
  // Results are released only after completion validation.
  if (released && req.result) r.result = req.result;
  if (released && req.receipt) r.receipt = req.receipt;
  if (released) r.attestations = [...(req.preprocess ?? []), ...(req.completion ?? [])];
  if (req.error) r.error = req.error;
  return r;
}

/** The task frame an agent is sent for attempt `taskId`. */
export function taskFrameOf(req: RequestRecord, taskId: string, deadline: number): TaskFrame {
  const common = {
    type: "task" as const,
    taskId,
    requestId: req.requestId as TaskFrame["requestId"],
    subnet: req.subnet as TaskFrame["subnet"],
    model: req.descriptor,
    price: req.price,
    ...(req.pricing ? { pricing: req.pricing } : {}),
    deadline,
  };
  switch (req.input.kind) {
    case "tensor":
      return { ...common, kind: "tensor", inputs: req.input.inputs };
    case "ocr":
      return { ...common, kind: "ocr", image: req.input.image, pipeline: req.pipeline };
    case "embed":
      return { ...common, kind: "embed", texts: req.input.texts, pipeline: req.pipeline };
    case "generate":
      return {
        ...common,
        kind: "generate",
        prompt: req.input.prompt,
        sampling: req.input.sampling,
        ...(req.stream ? { stream: true } : {}),
      };
    case "transcribe":
      return {
        ...common,
        kind: "transcribe",
        audio: req.input.audio,
        ...(req.input.language === undefined ? {} : { language: req.input.language }),
        ...(req.input.prompt === undefined ? {} : { prompt: req.input.prompt }),
      };
  }
}
