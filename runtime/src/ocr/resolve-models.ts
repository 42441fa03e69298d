import type { ModelDescriptor } from "@ncn/protocol";
import { RuntimeError } from "../errors.ts";
import { OCR_BUILTIN_MODELS, PPOCR_V4_DICT, PPOCR_V4_REC } from "./builtin-models.ts";
import { modelsOfManifest, type OcrModels, parseManifest } from "./manifest.ts";

/** Manifests are small; anything larger is a network, not a manifest. */
const MAX_MANIFEST_BYTES = 64 * 1024;

const ROLES = ["det", "rec", "cls", "dict"] as const;
type Role = (typeof ROLES)[number];

function roleOf(id: string): Role | undefined {
  return ROLES.find((r) => id.endsWith(`-${r}`) || id.endsWith(`/${r}`));
}

/**
 * The parts of an OCR task's pipeline. When the task's model is a pipeline manifest
 * the parts are the ones it names by hash (so the receipt's model hash covers them);
 * otherwise they are the pipeline entries named `<model>-det`, `-rec`, `-cls` and
 * `-dict`, the dictionary defaulting to the built-in one when the recogniser is the
 * built-in recogniser.
 */
export async function resolveOcrModels(
  model: ModelDescriptor,
  pipeline: readonly ModelDescriptor[],
  load: (m: ModelDescriptor) => Promise<Uint8Array>,
  builtin: readonly ModelDescriptor[] = OCR_BUILTIN_MODELS,
): Promise<OcrModels> {
  if (model.size <= MAX_MANIFEST_BYTES && roleOf(model.id) === undefined) {
    return modelsOfManifest(model.id, parseManifest(model.id, await load(model)), pipeline, builtin);
  }
  const byRole = new Map<Role, ModelDescriptor>();
  for (const m of [model, ...pipeline]) {
    const role = roleOf(m.id);
    if (role && !byRole.has(role)) byRole.set(role, m);
  }
  const det = byRole.get("det");
  const rec = byRole.get("rec");
  const dict =
    byRole.get("dict") ??
    (rec && rec.sha256.toLowerCase() === PPOCR_V4_REC.sha256 ? PPOCR_V4_DICT : undefined);
  if (!det || !rec || !dict) {
    const missing = [!det && "det", !rec && "rec", !dict && "dict"].filter(Boolean).join(", ");
    throw new RuntimeError("MODEL_NOT_FOUND", `OCR pipeline of ${model.id} lacks its ${missing} model`, {
      details: { model: model.id, missing },
    });
  }
  const cls = byRole.get("cls");
  return { det, rec, dict, ...(cls ? { cls } : {}) };
}
