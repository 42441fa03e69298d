import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RuntimeError } from "../errors.ts";
import { OnnxRuntime } from "../runtimes/onnx/onnx-runtime.ts";
import { sha256Hex } from "../runtimes/onnx/sha256.ts";
import { ModelStore } from "../store/model-store.ts";
import { characterErrorRate, type RenderOptions, renderText } from "../testing/render-text.ts";
import { OCR_BUILTIN_MODELS, PPOCR_V4, PPOCR_V4_MANIFEST, ppocrV4Task } from "./builtin-models.ts";
import { manifestBytes, modelsOfManifest, type OcrModels, parseManifest } from "./manifest.ts";
import { OcrPipeline } from "./pipeline.ts";

let dir: string;
let runtime: OnnxRuntime;
let store: ModelStore;
let ocr: OcrPipeline;
let models: OcrModels;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ncn-ocr-"));
  runtime = await OnnxRuntime.create({ executionProvider: "cpu" });
  store = await ModelStore.open({ dir, maxBytes: 200 * 1024 * 1024, ttlMs: 3_600_000 });
  ocr = new OcrPipeline({ runtime, loadModel: (m) => store.load(m) });
  const { model, pipeline } = ppocrV4Task();
  models = modelsOfManifest(model.id, parseManifest(model.id, await store.load(model)), pipeline, []);
});

afterAll(async () => {
  await runtime.close();
  rmSync(dir, { recursive: true, force: true });
});

// Clean renders in three font families and several sizes; one upside down, one JPEG.
const CASES: (RenderOptions & { name: string })[] = [
  {
    name: "sans 32",
    font: "sans",
    size: 32,
    lines: ["The quick brown fox jumps over", "the lazy dog 0123456789"],
  },
  {
    name: "mono 22",
    font: "mono",
    size: 22,
    lines: ["Invoice No. 4821 total EUR 1,250.00", "Due date: 2024-03-15"],
  },
  {
    name: "serif 40",
    font: "serif",
    size: 40,
    lines: ["Decentralized inference network", "Receipts are signed with EIP-712"],
  },
  {
    name: "sans 28 upside down",
    font: "sans",
    size: 28,
    rotate180: true,
    lines: ["Upside down pages are read", "from their own top line"],
  },
  {
    name: "serif 20 jpeg",
    font: "serif",
    size: 20,
    format: "jpeg",
    lines: ["Agents sign every receipt", "Validators check the outputs"],
  },
];

describe("OCR pipeline on rendered text", () => {
  for (const c of CASES) {
    test(`${c.name}: character error rate under 5%`, async () => {
      const image = renderText(c);
      const run = await ocr.run(models, image);
      const expected = c.lines.join("\n");
      const actual = run.lines.map((l) => l.text).join("\n");
      const cer = characterErrorRate(expected, actual);
      expect({ actual, cer: cer < 0.05 }).toEqual({ actual: expect.any(String), cer: true });
      expect(run.lines.length).toBe(c.lines.length);
      for (const line of run.lines) {
        expect(line.score).toBeGreaterThan(0.5);
        for (const [x, y] of line.box) {
          expect(x).toBeGreaterThanOrEqual(0);
          expect(x).toBeLessThan(run.width);
          expect(y).toBeGreaterThanOrEqual(0);
          expect(y).toBeLessThan(run.height);
        }
      }
      // Lines are reported in reading order of the page.
      if (!c.rotate180) expect(run.lines[0]?.box[0][1]).toBeLessThan(run.lines[1]?.box[0][1] ?? 0);
      else expect(run.lines[0]?.box[0][1]).toBeGreaterThan(run.lines[1]?.box[0][1] ?? 0);
      expect(run.timings.detect).toBeGreaterThan(0);
      expect(run.timings.recognize).toBeGreaterThan(0);
    });
  }

  test("an image without text gives no lines; a non-image is INVALID_INPUT", async () => {
    const blank = renderText({ lines: [" "], size: 30 });
    expect((await ocr.run(models, blank)).lines).toEqual([]);
    const err = await ocr
      .run(models, new TextEncoder().encode("not an image at all"))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect((err as RuntimeError).code).toBe("INVALID_INPUT");
    const truncated = renderText({ lines: ["cut"], size: 30 }).subarray(0, 60);
    expect(((await ocr.run(models, truncated).catch((e: unknown) => e)) as RuntimeError).code).toBe(
      "INVALID_INPUT",
    );
  });
});

describe("OCR pipeline manifest", () => {
  test("the shipped manifest file is the canonical manifest the descriptor names", async () => {
    const bytes = manifestBytes(PPOCR_V4_MANIFEST);
    expect(sha256Hex(bytes)).toBe(PPOCR_V4.sha256);
    expect(bytes.byteLength).toBe(PPOCR_V4.size);
    const shipped = await Bun.file(join(import.meta.dir, "../../assets/ppocr-v4.ocr-pipeline")).bytes();
    expect(Buffer.from(shipped).equals(Buffer.from(bytes))).toBe(true);
  });

  test("parts are found in the task's pipeline, then among built-in models, else MODEL_NOT_FOUND", () => {
    const m = parseManifest("ppocr-v4", manifestBytes(PPOCR_V4_MANIFEST));
    expect(String(modelsOfManifest("ppocr-v4", m, [], OCR_BUILTIN_MODELS).det.id)).toBe("ppocr-v4-det");
    const other = { ...m, rec: `0x${"ab".repeat(32)}` as typeof m.rec };
    expect(() => modelsOfManifest("x", other, ppocrV4Task().pipeline, OCR_BUILTIN_MODELS)).toThrow(
      /rec model/,
    );
    expect(() => parseManifest("x", new TextEncoder().encode('{"format":"other"}'))).toThrow(/not an OCR/);
  });
});
