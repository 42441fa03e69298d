import {
  type CompletionRequest,
  type ModelDescriptor,
  type ReputationEvent,
  type Tensor,
  tensorMapFromJson,
} from "@ncn/protocol";
import { tensorsClose } from "@ncn/runtime/onnx";
import { OCR_SPOT_CHECK_BOX_PX, OCR_SPOT_CHECK_SCORE } from "../constants.ts";
import type { Logger } from "../logger.ts";
import type { ModelRecord, RecordIndex } from "../records/record-index.ts";
import type { Reexecutor } from "../reexec/reexecutor.ts";
import { ocrLinesDiffer } from "./ocr-compare.ts";
import { refuse } from "./refuse.ts";

export interface SpotCheckPolicy {
  /** Absolute tolerance of an element. */
  atol: number;
  /** Relative tolerance, times |expected|. */
  rtol: number;
  /** Share of completions re-executed, 0..1. */
  fraction: number;
  /** Source of randomness in [0, 1) for sampling. */
  random?: () => number;
}

/**
 * What a sampled completion came to: re-executed and equal, not sampled, or sampled but not
 * re-executable here (a runtime or task kind this validator cannot run, or a run that failed).
 */
export type SpotCheckOutcome = "passed" | "skipped" | "unchecked";

export interface SpotCheckDeps {
  index: RecordIndex;
  reexecutor?: Reexecutor | undefined;
  spotCheck: SpotCheckPolicy;
  /** Every sampled completion's outcome (for counters); a failed check is "failed". */
  onSpotCheck?: (outcome: "passed" | "failed" | "unchecked") => void;
  onReputationEvent?: (event: ReputationEvent) => void;
  log?: Logger;
  now?: () => number;
}

/** What a spot check reads of a request (the agent is who a failure is reported against). */
export type SpotCheckSubject = Pick<CompletionRequest, "requestId" | "agent" | "input" | "result">;

/** The registered parts of OCR pipeline `model` (`<model>-det`, `-rec`, `-cls`, `-dict`), as gateways send them. */
function ocrParts(index: RecordIndex, model: string): ModelDescriptor[] {
  return ["det", "rec", "cls", "dict"].flatMap((part) => {
    const record = index.get("model", `${model}-${part}`)?.record;
    return record ? [record.body] : [];
  });
}

/** The agent's answer and what re-execution gave differ: the reason, else undefined. */
async function rerun(
  req: SpotCheckSubject,
  model: ModelRecord,
  reexecutor: Reexecutor,
  deps: SpotCheckDeps,
): Promise<{ differs: string | undefined; maxAbsDiff?: number } | "unchecked"> {
  const { input, result } = req;
  if (input.kind === "tensor" && result.kind === "tensor") {
    const expected: Record<string, Tensor> = await reexecutor.run(
      model.body,
      tensorMapFromJson(input.inputs),
    );
    const cmp = tensorsClose(expected, tensorMapFromJson(result.outputs), {
      atol: deps.spotCheck.atol,
      rtol: deps.spotCheck.rtol,
    });
    return { differs: cmp.equal ? undefined : (cmp.reason ?? "outputs differ"), maxAbsDiff: cmp.maxAbsDiff };
  }
  if (input.kind === "ocr" && result.kind === "ocr") {
    if (!reexecutor.ocr) return "unchecked";
    const expected = await reexecutor.ocr(model.body, ocrParts(deps.index, input.model), input.image);
    return {
      differs: ocrLinesDiffer(expected, result.lines, {
        boxPx: OCR_SPOT_CHECK_BOX_PX,
        score: OCR_SPOT_CHECK_SCORE,
      }),
    };
  }
  return "unchecked";
}

/**
 * Re-executes a sampled share of completions, tensor models and OCR pipelines alike, and
 * compares within the tolerance. A mismatch is reported against the agent, then refused.
 * A sampled completion this validator cannot re-execute is counted as unchecked, not passed.
 */
export async function spotCheck(
  req: SpotCheckSubject,
  model: ModelRecord,
  deps: SpotCheckDeps,
): Promise<SpotCheckOutcome> {
  const random = deps.spotCheck.random ?? Math.random;
  if (deps.spotCheck.fraction <= 0 || random() >= deps.spotCheck.fraction) return "skipped";
  const unchecked = (): SpotCheckOutcome => {
    deps.onSpotCheck?.("unchecked");
    return "unchecked";
  };
  if (!deps.reexecutor || model.body.runtime !== "onnx") return unchecked();
  let outcome: Awaited<ReturnType<typeof rerun>>;
  try {
    outcome = await rerun(req, model, deps.reexecutor, deps);
  } catch (e) {
    deps.log?.warn("spot check could not re-execute", { requestId: req.requestId, model: model.key, err: e });
    return unchecked();
  }
  if (outcome === "unchecked") return unchecked();
  if (outcome.differs === undefined) {
    deps.onSpotCheck?.("passed");
    return "passed";
  }
  deps.onSpotCheck?.("failed");
  const reason = outcome.differs;
  deps.onReputationEvent?.({
    id: `${req.requestId}:spot_check_failed`,
    agent: req.agent,
    kind: "spot_check_failed",
    requestId: req.requestId,
    reason: reason.slice(0, 200),
    at: deps.now?.() ?? Date.now(),
  } as ReputationEvent);
  throw refuse(
    "VALIDATION_REFUSED",
    "spot_check_failed",
    `re-execution disagrees with the agent: ${reason}`,
    {
      field: req.input.kind === "ocr" ? "result.lines" : "result.outputs",
      ...(outcome.maxAbsDiff === undefined ? {} : { maxAbsDiff: outcome.maxAbsDiff }),
    },
  );
}
