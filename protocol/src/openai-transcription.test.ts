import { describe, expect, test } from "bun:test";
import { BaseError } from "./errors.ts";
import { MAX_TRANSCRIPTION_BODY, readTranscriptionUpload } from "./openai.ts";
import { TRANSCRIBE_LIMITS } from "./tasks/transcribe.ts";
import { base64ToBytes } from "./tensor.ts";

const WAV = new Uint8Array(128).map((_, i) => i);

function upload(
  fields: Record<string, string>,
  file: Blob | null = new Blob([WAV], { type: "audio/wav" }),
): Request {
  const form = new FormData();
  if (file) form.set("file", file, "speech.wav");
  for (const [key, value] of Object.entries(fields)) form.set(key, value);
  return new Request("http://gateway/v1/audio/transcriptions", { method: "POST", body: form });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (e) {
    if (!(e instanceof BaseError)) return `untyped: ${String(e)}`;
    const details: object = e.details ?? {};
    return `${e.code}:${"field" in details ? String(details.field) : ""}`;
  }
}

describe("readTranscriptionUpload", () => {
  test("reads the file as the task's base64 audio and the OpenAI fields", async () => {
    const { form, audio } = await readTranscriptionUpload(
      upload({ model: "ncn-whisper", response_format: "text", language: "en", timeoutMs: "30000" }),
    );
    expect(base64ToBytes(audio)).toEqual(WAV);
    expect(form).toEqual({
      model: "ncn-whisper",
      response_format: "text",
      language: "en",
      timeoutMs: 30_000,
    });
  });

  test("refuses a missing file, unsupported formats, timestamps and sampling, naming the field", async () => {
    expect(await codeOf(readTranscriptionUpload(upload({ model: "ncn-whisper" }, null)))).toBe(
      "INVALID_INPUT:file",
    );
    expect(
      await codeOf(readTranscriptionUpload(upload({ model: "ncn-whisper", response_format: "srt" }))),
    ).toBe("INVALID_INPUT:response_format");
    expect(await codeOf(readTranscriptionUpload(upload({ model: "ncn-whisper", temperature: "0.7" })))).toBe(
      "INVALID_INPUT:temperature",
    );
    expect(
      await codeOf(
        readTranscriptionUpload(upload({ model: "ncn-whisper", "timestamp_granularities[]": "word" })),
      ),
    ).toBe("INVALID_INPUT:timestamp_granularities[]");
    expect(await codeOf(readTranscriptionUpload(upload({})))).toBe("INVALID_INPUT:model");
  });

  test("refuses a file over the task's bound, and a body over the bound before reading it", async () => {
    const big = new Blob([new Uint8Array(TRANSCRIBE_LIMITS.wavBytes + 1)]);
    expect(await codeOf(readTranscriptionUpload(upload({ model: "ncn-whisper" }, big)))).toBe(
      "PAYLOAD_TOO_LARGE:file",
    );
    const declared = new Request("http://gateway/v1/audio/transcriptions", {
      method: "POST",
      headers: {
        "content-length": String(MAX_TRANSCRIPTION_BODY + 1),
        "content-type": "multipart/form-data; boundary=x",
      },
      body: "--x--",
    });
    expect(await codeOf(readTranscriptionUpload(declared))).toBe("PAYLOAD_TOO_LARGE:file");
    const json = new Request("http://gateway/v1/audio/transcriptions", { method: "POST", body: "{}" });
    expect(await codeOf(readTranscriptionUpload(json))).toBe("BAD_REQUEST:");
  });
});
