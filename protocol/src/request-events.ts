import * as v from "valibot";
import { InferenceResponse, ProgressEvent, TokenEvent } from "./inference.ts";
import { readSse } from "./sse.ts";

/** One event of a request's event stream (`GET /v1/inference/:id/events`), parsed. */
export type RequestStreamEvent =
  | { type: "progress"; event: ProgressEvent }
  | { type: "token"; event: TokenEvent }
  | { type: "final"; response: InferenceResponse };

/**
 * Reads a request's `text/event-stream` body (what the gateway's Request object serves) as
 * typed events: `progress`, `token` (a streaming `generate` request's text, before
 * validation) and, last, `final` with the response. Events of other names, and ones whose
 * data breaks their schema, are skipped; the generator ends after `final` or when the body
 * ends (a body that ends without `final` was cut off).
 *
 * @example
 * for await (const e of readRequestEvents(res.body)) {
 *   if (e.type === "token") write(e.event.text);
 *   else if (e.type === "final") return e.response;
 * }
 */
export async function* readRequestEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<RequestStreamEvent, void> {
  for await (const e of readSse(body)) {
    let data: unknown;
    try {
      data = JSON.parse(e.data);
    } catch {
      continue;
    }
    if (e.event === "final") {
      const r = v.safeParse(InferenceResponse, data);
      if (r.success) {
        yield { type: "final", response: r.output };
        return;
      }
    } else if (e.event === "token") {
      const r = v.safeParse(TokenEvent, data);
      if (r.success) yield { type: "token", event: r.output };
    } else if (e.event === "progress") {
      const r = v.safeParse(ProgressEvent, data);
      if (r.success) yield { type: "progress", event: r.output };
    }
  }
}

/** The SSE text of one event (what the gateway writes and `readRequestEvents` reads). */
export function sseEvent(event: "progress" | "token" | "final", data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
