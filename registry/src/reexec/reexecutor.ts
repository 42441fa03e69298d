import type { ModelDescriptor, OcrLine, Tensor } from "@ncn/protocol";

/** Runs a model again on a validator, to compare with what an agent returned. */
export interface Reexecutor {
  run(model: ModelDescriptor, inputs: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  /**
   * Reads an image (base64) with an OCR pipeline the way agents do; `pipeline` holds the
   * registered parts of `model`. A re-executor without it cannot check OCR results
   * (they are then counted as unchecked).
   */
  ocr?(model: ModelDescriptor, pipeline: readonly ModelDescriptor[], image: string): Promise<OcrLine[]>;
}
