import * as v from "valibot";
import { ProtocolError } from "./errors.ts";
import { type FieldIssue, issuesOf } from "./parse.ts";

/** Why a frame could not be read. */
export type FrameProblem = "not_text" | "too_large" | "not_json" | "invalid";

/**
 * A WebSocket message that is not a frame of the expected kind. `problem` says why; the
 * receiver picks the code it answers with (`FRAME_INVALID` on the agent link, `INVALID_INPUT`
 * on a client's stream) and may answer about the id the message named (`field`).
 */
export class FrameDecodeError extends ProtocolError<"FRAME_INVALID"> {
  override name = "FrameDecodeError";
  readonly problem: FrameProblem;
  /** The JSON value, when the text parsed but broke the schema; undefined otherwise. */
  readonly raw: unknown;

  constructor(problem: FrameProblem, message: string, raw?: unknown, issues?: readonly FieldIssue[]) {
    super("FRAME_INVALID", message, issues === undefined ? {} : { details: { issues } });
    this.problem = problem;
    this.raw = raw;
  }

  /**
   * The message's `key` when it passes `schema` (the id to answer about), else undefined:
   * a bad frame's own id is as untrusted as the rest of it.
   */
  field<S extends v.GenericSchema>(key: string, schema: S): v.InferOutput<S> | undefined {
    if (typeof this.raw !== "object" || this.raw === null) return undefined;
    const value: unknown = Reflect.get(this.raw, key);
    const r = v.safeParse(schema, value);
    return r.success ? r.output : undefined;
  }
}

export type DecodedFrame<S extends v.GenericSchema> =
  | { ok: true; frame: v.InferOutput<S> }
  | { ok: false; error: FrameDecodeError };

/**
 * Reads one WebSocket message as a frame of `schema`: JSON text of at most `maxBytes`
 * characters, parsed with the schema. Returns the typed frame, or the reason it is not one
 * (a value, not a throw: a bad frame is answered, and the socket lives on).
 *
 * @example
 * const r = decodeFrame(AgentToGatewayFrame, message, MAX_FRAME_BYTES);
 * if (!r.ok) return reply({ type: "error", code: "FRAME_INVALID", message: r.error.shortMessage });
 */
export function decodeFrame<S extends v.GenericSchema>(
  schema: S,
  data: unknown,
  maxBytes: number,
): DecodedFrame<S> {
  if (typeof data !== "string" || data.length > maxBytes) {
    const problem = typeof data !== "string" ? "not_text" : "too_large";
    return fail(new FrameDecodeError(problem, `frames must be JSON text of at most ${maxBytes} bytes`));
  }
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return fail(new FrameDecodeError("not_json", "frame is not valid JSON"));
  }
  const parsed = v.safeParse(schema, raw);
  if (parsed.success) return { ok: true, frame: parsed.output };
  const issues = issuesOf(parsed.issues);
  const first = issues[0];
  const problem = first ? `invalid frame: ${first.path}: ${first.message}` : "invalid frame";
  return fail(new FrameDecodeError("invalid", problem, raw, issues));
}

function fail(error: FrameDecodeError): { ok: false; error: FrameDecodeError } {
  return { ok: false, error };
}
