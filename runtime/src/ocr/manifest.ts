import { canonicalJson, type ModelDescriptor, Sha256 } from "@ncn/protocol";
import * as v from "valibot";
import { RuntimeError } from "../errors.ts";

export const OCR_PIPELINE_FORMAT = "ncn-ocr-pipeline/1";

/**
 * What an OCR model id stands for: the content hashes of its detector, recogniser,
 * optional direction classifier and character dictionary. The task's model descriptor
 * points at this manifest, so the receipt's model hash binds every part.
 */
export const OcrPipelineManifest = v.object({
  format: v.literal(OCR_PIPELINE_FORMAT),
  det: Sha256,
  rec: Sha256,
  cls: v.optional(Sha256),
  dict: Sha256,
});
export type OcrPipelineManifest = v.InferOutput<typeof OcrPipelineManifest>;

/** The manifest's file bytes: canonical JSON, so equal manifests hash equally. */
export function manifestBytes(m: OcrPipelineManifest): Uint8Array {
  return new TextEncoder().encode(canonicalJson(m));
}

export function parseManifest(modelId: string, bytes: Uint8Array): OcrPipelineManifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    json = undefined;
  }
  const r = v.safeParse(OcrPipelineManifest, json);
  if (!r.success) {
    throw new RuntimeError("INVALID_INPUT", `model ${modelId} is not an OCR pipeline manifest`, {
      details: { model: modelId, format: OCR_PIPELINE_FORMAT },
    });
  }
  return r.output;
}

export interface OcrModels {
  det: ModelDescriptor;
  rec: ModelDescriptor;
  cls?: ModelDescriptor;
  dict: ModelDescriptor;
}

/**
 * Finds the descriptor of every part the manifest names, among the task's pipeline
 * first, then among the models this agent ships with.
 */
export function modelsOfManifest(
  modelId: string,
  manifest: OcrPipelineManifest,
  pipeline: readonly ModelDescriptor[],
  builtin: readonly ModelDescriptor[],
): OcrModels {
  const find = (role: string, sha: string): ModelDescriptor => {
    const d =
      pipeline.find((m) => m.sha256.toLowerCase() === sha) ??
      builtin.find((m) => m.sha256.toLowerCase() === sha);
    if (!d) {
      throw new RuntimeError(
        "MODEL_NOT_FOUND",
        `the ${role} model ${sha} of ${modelId} is not in the task's pipeline`,
        {
          details: { model: modelId, role, sha256: sha },
        },
      );
    }
    return d;
  };
  return {
    det: find("det", manifest.det),
    rec: find("rec", manifest.rec),
    ...(manifest.cls ? { cls: find("cls", manifest.cls) } : {}),
    dict: find("dict", manifest.dict),
  };
}
