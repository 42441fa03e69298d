import {
  type CompletionRequest,
  type GenerateResult,
  type ModelDescriptor,
  type ReputationEvent,
  type TaskInput,
  type TaskResult,
  tensorMapFromJson,
} from "@ncn/protocol";
import type { VerifyVerdict } from "@ncn/runtime/causal-lm";
import { tensorsClose } from "@ncn/runtime/onnx";
import type { TranscriptVerdict } from "@ncn/runtime/speech-to-text";
import { type EmbeddingVerdict, verifyEmbeddings } from "@ncn/runtime/verify-embeddings";
import {
  EMBED_SPOT_CHECK_MAX_NORM_DRIFT,
  EMBED_SPOT_CHECK_MIN_COSINE,
  GENERATE_SPOT_CHECK_FALSE_ALARM,
  GENERATE_SPOT_CHECK_TOLERANCE,
  OCR_SPOT_CHECK_BOX_PX,
  OCR_SPOT_CHECK_SCORE,
} from "../constants.ts";
import { ValidationRefusedError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { ModelRecord, RecordIndex } from "../records/record-index.ts";
import type { Reexecutor } from "../reexec/reexecutor.ts";
import { ocrLinesDiffer } from "./ocr-compare.ts";
import { refuse } from "./refuse.ts";
import { resultKindMismatch } from "./result-kind.ts";

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

/** Where the agent's result and the validator's check of it disagree. */
interface Disagreement {
  /** Why, in words (the refusal's message and the reputation event's reason). */
  why: string;
  /** The result field at fault. */
  field: string;
  /** What else the refusal says (the position of a token, the index and cosine of a vector). */
  details?: Record<string, unknown>;
}

/** The registered models named `<model>-<part>`, as gateways send a task's parts to agents. */
function registeredParts(index: RecordIndex, model: string, parts: readonly string[]): ModelDescriptor[] {
  return parts.flatMap((part) => {
    const record = index.get("model", `${model}-${part}`)?.record;
    return record ? [record.body] : [];
  });
}

/** The registered parts of OCR pipeline `model` (`<model>-det`, `-rec`, `-cls`, `-dict`). */
function ocrParts(index: RecordIndex, model: string): ModelDescriptor[] {
  return registeredParts(index, model, ["det", "rec", "cls", "dict"]);
}

/**
 * The registered parts of embedding model `model` (`<model>-encoder`, `-tokenizer`). The
 * runtime takes a part only when its hash is the one the manifest names, and built-in parts
 * need none.
 */
function embedParts(index: RecordIndex, model: string): ModelDescriptor[] {
  return registeredParts(index, model, ["encoder", "tokenizer"]);
}

/** What a failed teacher-forcing check says, as a refusal names it. */
function generationDisagreement(
  verdict: Extract<VerifyVerdict, { ok: false }>,
  result: GenerateResult,
): Disagreement {
  const { reason } = verdict;
  if (reason === "prompt_mismatch") {
    return {
      why: `the prompt does not have the ${result.prompt_tokens} tokens the result counts`,
      field: "result.prompt_tokens",
      details: { failure: reason },
    };
  }
  if (reason === "text_mismatch") {
    return {
      why: "the text is not what the tokens decode to",
      field: "result.text",
      details: { failure: reason },
    };
  }
  const said: Record<Exclude<typeof reason, "prompt_mismatch" | "text_mismatch">, string> = {
    not_greedy: `is not the greedy choice (${verdict.expected} is)`,
    improbable: `has probability ${verdict.probability?.toExponential(2)}, in a tail an honest draw almost never reaches`,
    outside_top_p: `lies outside the top_p nucleus (probability ${verdict.probability?.toExponential(2)})`,
    unknown_token: "is not in the model's vocabulary",
    too_many_tokens: "is past max_tokens or the context",
    end_token: "is an end token inside the output",
  };
  return tokenDisagreement(verdict, said[reason]);
}

/** A token the check refused, at its position: what the model expected and how likely it was. */
function tokenDisagreement(
  verdict: { position: number; token: number; reason: string; expected?: number; probability?: number },
  said: string,
): Disagreement {
  const { position, token, reason, expected, probability } = verdict;
  return {
    why: `token ${token} at position ${position} ${said}`,
    field: "result.tokens",
    details: {
      position,
      token,
      failure: reason,
      ...(expected === undefined ? {} : { expected }),
      ...(probability === undefined ? {} : { probability }),
    },
  };
}

/** What a failed transcript check says, and which result field it is about. */
function transcriptDisagreement(verdict: Extract<TranscriptVerdict, { ok: false }>): Disagreement {
  const { reason } = verdict;
  if (reason === "text_mismatch")
    return {
      why: "the text is not what the tokens decode to",
      field: "result.text",
      details: { failure: reason },
    };
  if (reason === "duration_mismatch")
    return {
      why: "the audio is not as long as the result says",
      field: "result.audio_seconds",
      details: { failure: reason },
    };
  const said: Record<Exclude<typeof reason, "text_mismatch" | "duration_mismatch">, string> = {
    not_greedy: `is not the greedy choice (${verdict.expected} is)`,
    unknown_token: "is not in the model's vocabulary",
    too_many_tokens: "is past the model's positions",
    end_token: "is the end token inside the transcript",
    cut_short: `ends the transcript where the model goes on (${verdict.expected} is next)`,
  };
  return tokenDisagreement(verdict, said[reason]);
}

/** The result field a failed embedding comparison is about. */
function embeddingField(verdict: Extract<EmbeddingVerdict, { ok: false }>): string {
  if (verdict.reason === "dims_mismatch") return "result.dims";
  if (verdict.reason === "tokens_mismatch") return "result.promptTokens";
  return "result.embeddings";
}

/** Checks the agent's answer again: a disagreement, undefined when they agree, or "unchecked". */
async function recheck(
  input: TaskInput,
  result: TaskResult,
  model: ModelRecord,
  reexecutor: Reexecutor,
  deps: SpotCheckDeps,
): Promise<Disagreement | undefined | "unchecked"> {
  switch (input.kind) {
    case "tensor": {
      if (result.kind !== "tensor") throw resultKindMismatch(input, result);
      const expected = await reexecutor.run(model.body, tensorMapFromJson(input.inputs));
      const cmp = tensorsClose(expected, tensorMapFromJson(result.outputs), {
        atol: deps.spotCheck.atol,
        rtol: deps.spotCheck.rtol,
      });
      if (cmp.equal) return undefined;
      return {
        why: cmp.reason ?? "outputs differ",
        field: "result.outputs",
        ...(cmp.maxAbsDiff === undefined ? {} : { details: { maxAbsDiff: cmp.maxAbsDiff } }),
      };
    }
    case "ocr": {
      if (result.kind !== "ocr") throw resultKindMismatch(input, result);
      if (!reexecutor.ocr) return "unchecked";
      const expected = await reexecutor.ocr(model.body, ocrParts(deps.index, input.model), input.image);
      const why = ocrLinesDiffer(expected, result.lines, {
        boxPx: OCR_SPOT_CHECK_BOX_PX,
        score: OCR_SPOT_CHECK_SCORE,
      });
      return why === undefined ? undefined : { why, field: "result.lines" };
    }
    case "generate": {
      if (result.kind !== "generate") throw resultKindMismatch(input, result);
      if (!reexecutor.verifyGeneration) return "unchecked";
      const verdict = await reexecutor.verifyGeneration(
        model.body,
        { prompt: input.prompt, sampling: input.sampling },
        result,
        {
          ...GENERATE_SPOT_CHECK_TOLERANCE,
          tailMass: GENERATE_SPOT_CHECK_FALSE_ALARM / Math.max(1, result.tokens.length),
        },
      );
      return verdict.ok ? undefined : generationDisagreement(verdict, result);
    }
    case "transcribe": {
      if (result.kind !== "transcribe") throw resultKindMismatch(input, result);
      if (!reexecutor.verifyTranscript) return "unchecked";
      const asked = {
        audio: input.audio,
        ...(input.language === undefined ? {} : { language: input.language }),
        ...(input.prompt === undefined ? {} : { prompt: input.prompt }),
      };
      const verdict = await reexecutor.verifyTranscript(
        model.body,
        asked,
        result,
        GENERATE_SPOT_CHECK_TOLERANCE.greedyMargin,
      );
      return verdict.ok ? undefined : transcriptDisagreement(verdict);
    }
    case "embed": {
      if (result.kind !== "embed") throw resultKindMismatch(input, result);
      if (!reexecutor.embed) return "unchecked";
      const mine = await reexecutor.embed(model.body, embedParts(deps.index, input.model), input.texts);
      const verdict = verifyEmbeddings(result, mine, {
        minCosine: EMBED_SPOT_CHECK_MIN_COSINE,
        maxNormDrift: EMBED_SPOT_CHECK_MAX_NORM_DRIFT,
      });
      if (verdict.ok) return undefined;
      return {
        why: verdict.message,
        field: embeddingField(verdict),
        details: {
          failure: verdict.reason,
          ...(verdict.index === undefined ? {} : { index: verdict.index }),
          ...(verdict.cosine === undefined ? {} : { cosine: verdict.cosine }),
        },
      };
    }
  }
}

/**
 * Re-checks a sampled share of completions: tensor models and OCR pipelines are re-executed
 * and compared within the tolerance, embeddings re-computed and compared by cosine,
 * generated tokens scored by teacher forcing (never generated again: sampling diverges
 * across hardware). A disagreement is reported against the agent, then refused. A sampled
 * completion this validator cannot check is counted as unchecked, not passed.
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
  let outcome: Awaited<ReturnType<typeof recheck>>;
  try {
    outcome = await recheck(req.input, req.result, model, deps.reexecutor, deps);
  } catch (e) {
    // A refusal is a verdict on the result; anything else is this validator failing to check it.
    if (e instanceof ValidationRefusedError) throw e;
    deps.log?.warn("spot check could not re-execute", { requestId: req.requestId, model: model.key, err: e });
    return unchecked();
  }
  if (outcome === "unchecked") return unchecked();
  if (outcome === undefined) {
    deps.onSpotCheck?.("passed");
    return "passed";
  }
  deps.onSpotCheck?.("failed");
  deps.onReputationEvent?.({
    id: `${req.requestId}:spot_check_failed`,
    agent: req.agent,
    kind: "spot_check_failed",
    requestId: req.requestId,
    reason: outcome.why.slice(0, 200),
    at: deps.now?.() ?? Date.now(),
  } as ReputationEvent);
  throw refuse(
    "VALIDATION_REFUSED",
    "spot_check_failed",
    `the agent's result does not hold up: ${outcome.why}`,
    { field: outcome.field, ...outcome.details },
  );
}
