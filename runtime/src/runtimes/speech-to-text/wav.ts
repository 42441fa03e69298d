import { TRANSCRIBE_LIMITS } from "@ncn/protocol";
import { RuntimeError } from "../../errors.ts";

/** Audio decoded from a WAV file: mono samples in [-1, 1) at the file's rate. */
export interface DecodedAudio {
  samples: Float32Array;
  sampleRate: number;
}

const invalid = (why: string) => new RuntimeError("INVALID_INPUT", `audio is not a usable WAV file: ${why}`);

function tag(view: DataView, at: number): string {
  return String.fromCharCode(
    view.getUint8(at),
    view.getUint8(at + 1),
    view.getUint8(at + 2),
    view.getUint8(at + 3),
  );
}

/**
 * The samples of a RIFF/WAVE file of 16-bit PCM (format 1, or WAVE_FORMAT_EXTENSIBLE with
 * PCM), channels averaged to mono. Streaming writers (espeak-ng `--stdout`, ffmpeg to a
 * pipe) leave the data size at 0 or 0xffffffff: the data then runs to the end of the file.
 * Longer than `TRANSCRIBE_LIMITS.seconds`, or another encoding, is `INVALID_INPUT`.
 *
 * @example const { samples, sampleRate } = decodeWav(bytes);
 */
export function decodeWav(bytes: Uint8Array): DecodedAudio {
  if (bytes.byteLength < 44) throw invalid("too short");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (tag(view, 0) !== "RIFF" || tag(view, 8) !== "WAVE") throw invalid("no RIFF/WAVE header");
  let format: { channels: number; sampleRate: number; bits: number; code: number } | undefined;
  let pos = 12;
  while (pos + 8 <= bytes.byteLength) {
    const id = tag(view, pos);
    const size = view.getUint32(pos + 4, true);
    const body = pos + 8;
    if (id === "fmt ") {
      if (size < 16 || body + 16 > bytes.byteLength) throw invalid("short fmt chunk");
      let code = view.getUint16(body, true);
      // WAVE_FORMAT_EXTENSIBLE names the real format in its sub-format GUID's first two bytes.
      if (code === 0xfffe && size >= 26 && body + 26 <= bytes.byteLength)
        code = view.getUint16(body + 24, true);
      format = {
        code,
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        bits: view.getUint16(body + 14, true),
      };
    } else if (id === "data") {
      if (!format) throw invalid("data before fmt");
      const streamed = size === 0 || size >= 0x7ffffff0;
      const end = streamed ? bytes.byteLength : Math.min(bytes.byteLength, body + size);
      return pcm16(view, body, end, format);
    }
    pos = body + size + (size & 1);
  }
  throw invalid("no data chunk");
}

function pcm16(
  view: DataView,
  start: number,
  end: number,
  format: { channels: number; sampleRate: number; bits: number; code: number },
): DecodedAudio {
  const { channels, sampleRate, bits, code } = format;
  if (code !== 1 || bits !== 16) throw invalid(`only 16-bit PCM is read (format ${code}, ${bits} bits)`);
  if (channels < 1 || channels > 8) throw invalid(`${channels} channels`);
  if (sampleRate < TRANSCRIBE_LIMITS.minSampleRate || sampleRate > TRANSCRIBE_LIMITS.maxSampleRate)
    throw invalid(`sample rate ${sampleRate} Hz`);
  const frames = Math.floor((end - start) / (2 * channels));
  if (frames === 0) throw invalid("no samples");
  if (frames > TRANSCRIBE_LIMITS.seconds * sampleRate)
    throw new RuntimeError(
      "INVALID_INPUT",
      `audio is ${(frames / sampleRate).toFixed(1)} s long, at most ${TRANSCRIBE_LIMITS.seconds} s are transcribed`,
    );
  const samples = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += view.getInt16(start + 2 * (i * channels + c), true);
    samples[i] = sum / channels / 32768;
  }
  return { samples, sampleRate };
}

/**
 * A WAV file of 16-bit mono PCM (tests, fixtures, clients that record in the browser).
 *
 * @example encodeWav(new Float32Array(16000), 16000) // one second of silence
 */
export function encodeWav(samples: Float32Array, sampleRate: number): Uint8Array {
  const bytes = new Uint8Array(44 + samples.length * 2);
  const view = new DataView(bytes.buffer);
  const write = (at: number, text: string) => {
    for (let i = 0; i < 4; i++) view.setUint8(at + i, text.charCodeAt(i));
  };
  write(0, "RIFF");
  view.setUint32(4, 36 + samples.length * 2, true);
  write(8, "WAVE");
  write(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  write(36, "data");
  view.setUint32(40, samples.length * 2, true);
  for (const [i, s] of samples.entries())
    view.setInt16(44 + 2 * i, Math.max(-32768, Math.min(32767, Math.round(s * 32768))), true);
  return bytes;
}
