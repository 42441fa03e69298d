import type { ModelDescriptor, OcrLine, Tensor } from "@ncn/protocol";
import { RuntimeError } from "../errors.ts";
import type { OnnxRuntime } from "../runtimes/onnx/onnx-runtime.ts";
import { checkInputs } from "../runtimes/onnx/signature.ts";
import { cropQuad } from "./crop.ts";
import { charsetFromDictionary, ctcGreedyDecode } from "./ctc.ts";
import {
  boxesFromProbabilityMap,
  DEFAULT_DET_PARAMS,
  type DetParams,
  prepareDetInput,
  sortReadingOrder,
} from "./detect.ts";
import { padQuadVertically, type Quad } from "./geometry.ts";
import { decodeImage, type RgbImage, rotate180 } from "./image.ts";
import { lineWindows, writeLineTensor } from "./line-tensor.ts";
import type { OcrModels } from "./manifest.ts";

export interface OcrParams {
  det: DetParams;
  /** Run the direction classifier when the pipeline has one. */
  useClassifier: boolean;
  /** Least classifier confidence to turn a crop upside down. */
  clsThresh: number;
  /**
   * Margin added above and below each detected line before recognition, as a fraction
   * of its height: the recogniser reads tightly cropped lines poorly (it drops spaces
   * between words) and was trained on lines with room around them.
   */
  recPadding: number;
  /** Lines recognised with a lower mean probability are dropped. */
  dropScore: number;
  recHeight: number;
  /** Narrowest input width of the recogniser (wider lines widen the batch). */
  recMinWidth: number;
  /** Widest line the recogniser is given, in pixels at its input height. */
  recMaxWidth: number;
  clsHeight: number;
  clsWidth: number;
  batchSize: number;
}

export const DEFAULT_OCR_PARAMS: OcrParams = {
  det: DEFAULT_DET_PARAMS,
  useClassifier: true,
  clsThresh: 0.9,
  recPadding: 0.3,
  dropScore: 0.5,
  recHeight: 48,
  recMinWidth: 320,
  recMaxWidth: 3200,
  clsHeight: 48,
  clsWidth: 192,
  batchSize: 8,
};

export type OcrStage = "decode" | "detect" | "boxes" | "classify" | "recognize";

export interface OcrRun {
  lines: OcrLine[];
  width: number;
  height: number;
  /** Milliseconds per stage. */
  timings: Record<OcrStage, number>;
}

export interface OcrRunOptions {
  signal?: AbortSignal;
  onStage?: (stage: OcrStage, progress: number) => void;
}

export interface OcrPipelineOptions {
  runtime: OnnxRuntime;
  /** Bytes of a model (or the dictionary), verified against its sha256. */
  loadModel: (model: ModelDescriptor) => Promise<Uint8Array>;
  params?: Partial<OcrParams>;
}

/**
 * Text recognition on an image with PaddleOCR-style models: detection, box fitting,
 * crops, direction classification, recognition and CTC decoding.
 *
 * @example
 * const ocr = new OcrPipeline({ runtime, loadModel: (m) => store.load(m) });
 * const { lines } = await ocr.run(models, pngBytes);
 */
export class OcrPipeline {
  readonly params: OcrParams;
  readonly #rt: OnnxRuntime;
  readonly #load: (model: ModelDescriptor) => Promise<Uint8Array>;
  readonly #charsets = new Map<string, string[]>();

  constructor(options: OcrPipelineOptions) {
    this.#rt = options.runtime;
    this.#load = options.loadModel;
    this.params = { ...DEFAULT_OCR_PARAMS, ...options.params };
  }

  async run(models: OcrModels, image: Uint8Array, options: OcrRunOptions = {}): Promise<OcrRun> {
    const timings: Record<OcrStage, number> = { decode: 0, detect: 0, boxes: 0, classify: 0, recognize: 0 };
    const stage = async <T>(name: OcrStage, fn: () => Promise<T> | T): Promise<T> => {
      if (options.signal?.aborted) throw new RuntimeError("CANCELLED", "OCR task cancelled");
      options.onStage?.(name, 0);
      const t0 = performance.now();
      const r = await fn();
      timings[name] = performance.now() - t0;
      return r;
    };
    const img = await stage("decode", () => decodeImage(image));
    const prob = await stage("detect", () => this.#detect(models.det, img));
    const boxes = await stage("boxes", () =>
      boxesFromProbabilityMap(prob.map, prob.width, prob.height, img.width, img.height, this.params.det),
    );
    // The classifier judges the tight crop; the recogniser reads the padded one.
    let crops = boxes.map((b) => cropQuad(img, padQuadVertically(b.box, this.params.recPadding)));
    let flipped = crops.map(() => false);
    if (models.cls && this.params.useClassifier && crops.length > 0) {
      const cls = models.cls;
      flipped = await stage("classify", () =>
        this.#classify(
          cls,
          boxes.map((b) => cropQuad(img, b.box)),
        ),
      );
      crops = crops.map((c, i) => (flipped[i] ? rotate180(c) : c));
    }
    const texts = crops.length > 0 ? await stage("recognize", () => this.#recognize(models, crops)) : [];
    // When most lines are upside down the page is: read it from its own top.
    let order = boxes.map((_, i) => i);
    if (flipped.filter(Boolean).length * 2 > flipped.length) {
      const turn = ([x, y]: [number, number]): [number, number] => [img.width - 1 - x, img.height - 1 - y];
      const turned = boxes.map((b, i) => ({
        i,
        box: [turn(b.box[2]), turn(b.box[3]), turn(b.box[0]), turn(b.box[1])] as Quad,
      }));
      order = sortReadingOrder(turned).map((t) => t.i);
    }
    const lines: OcrLine[] = [];
    for (const i of order) {
      const t = texts[i];
      const box = boxes[i]?.box;
      const text = t?.text.trim() ?? "";
      if (!t || !box || t.score < this.params.dropScore || text === "") continue;
      lines.push({ text, score: t.score, box: box.map(([x, y]) => [x, y]) as Quad });
    }
    return { lines, width: img.width, height: img.height, timings };
  }

  async #infer(model: ModelDescriptor, input: Tensor): Promise<Tensor> {
    const spec = model.inputs[0];
    const out = model.outputs[0];
    if (!spec || !out)
      throw new RuntimeError("INVALID_INPUT", `model ${model.id} declares no input or output`);
    checkInputs(model, { [spec.name]: input });
    const r = await this.#rt.infer(model, () => this.#load(model), { [spec.name]: input }, [out.name]);
    return r[out.name] as Tensor;
  }

  #tensor(data: Float32Array, dims: number[]): Tensor {
    return { dtype: "float32", dims, data };
  }

  async #detect(
    det: ModelDescriptor,
    img: RgbImage,
  ): Promise<{ map: Float32Array; width: number; height: number }> {
    const input = prepareDetInput(img, this.params.det.limitSideLen);
    const out = await this.#infer(det, this.#tensor(input.tensor, [1, 3, input.height, input.width]));
    const [, , h, w] = out.dims;
    if (h !== input.height || w !== input.width) {
      throw new RuntimeError(
        "INFERENCE_FAILED",
        `detector returned a ${h}x${w} map for a ${input.height}x${input.width} input`,
      );
    }
    return { map: out.data as Float32Array, width: input.width, height: input.height };
  }

  /**
   * Which crops are upside down. Each line is classified window by window at its
   * natural scale; a line is turned when, on average, its windows say so and at least
   * half of them say so confidently.
   */
  async #classify(cls: ModelDescriptor, crops: RgbImage[]): Promise<boolean[]> {
    const { clsHeight: H, clsWidth: W, batchSize } = this.params;
    const windows = crops.flatMap((c, line) => lineWindows(c, H, W).map((img) => ({ line, img })));
    const down = new Float32Array(windows.length);
    for (let start = 0; start < windows.length; start += batchSize) {
      const batch = windows.slice(start, start + batchSize);
      const data = new Float32Array(batch.length * 3 * H * W);
      batch.forEach((w, i) => {
        writeLineTensor(data, i, w.img, H, W);
      });
      const probs = (await this.#infer(cls, this.#tensor(data, [batch.length, 3, H, W])))
        .data as Float32Array;
      batch.forEach((_, i) => {
        down[start + i] = probs[i * 2 + 1] as number;
      });
    }
    return crops.map((_, line) => {
      const p = windows.flatMap((w, i) => (w.line === line ? [down[i] as number] : []));
      const mean = p.reduce((a, b) => a + b, 0) / p.length;
      const confident = p.filter((x) => x >= this.params.clsThresh).length;
      return mean > 0.5 && confident * 2 >= p.length;
    });
  }

  async #charset(dict: ModelDescriptor): Promise<string[]> {
    let cs = this.#charsets.get(dict.sha256);
    if (!cs) {
      cs = charsetFromDictionary(new TextDecoder().decode(await this.#load(dict)));
      this.#charsets.set(dict.sha256, cs);
    }
    return cs;
  }

  async #recognize(models: OcrModels, crops: RgbImage[]): Promise<{ text: string; score: number }[]> {
    const charset = await this.#charset(models.dict);
    const { recHeight: H, batchSize } = this.params;
    const results: { text: string; score: number }[] = new Array(crops.length);
    // Lines of similar aspect ratio share a batch, so little of it is padding.
    const order = crops.map((c, i) => ({ i, ratio: c.width / c.height })).sort((a, b) => a.ratio - b.ratio);
    for (let start = 0; start < order.length; start += batchSize) {
      const group = order.slice(start, start + batchSize);
      const maxRatio = Math.max(this.params.recMinWidth / H, ...group.map((g) => g.ratio));
      const W = Math.min(this.params.recMaxWidth, Math.ceil(H * maxRatio));
      const data = new Float32Array(group.length * 3 * H * W);
      group.forEach((g, k) => {
        writeLineTensor(data, k, crops[g.i] as RgbImage, H, W);
      });
      const out = await this.#infer(models.rec, this.#tensor(data, [group.length, 3, H, W]));
      const [, steps, classes] = out.dims as [number, number, number];
      if (classes !== charset.length) {
        throw new RuntimeError(
          "INFERENCE_FAILED",
          `recogniser has ${classes} classes but its dictionary gives ${charset.length}`,
        );
      }
      const probs = out.data as Float32Array;
      group.forEach((g, k) => {
        results[g.i] = ctcGreedyDecode(probs, k * steps * classes, steps, classes, charset);
      });
    }
    return results;
  }
}
