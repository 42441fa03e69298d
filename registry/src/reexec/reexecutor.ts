import type { ModelDescriptor, Tensor } from "@ncn/protocol";

/** Runs a model again on a validator, to compare with what an agent returned. */
export interface Reexecutor {
  run(model: ModelDescriptor, inputs: Record<string, Tensor>): Promise<Record<string, Tensor>>;
}
