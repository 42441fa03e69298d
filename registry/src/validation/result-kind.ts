import type { TaskInput, TaskResult } from "@ncn/protocol";
import type { ValidationRefusedError } from "../errors.ts";
import { refuse } from "./refuse.ts";

/**
 * The refusal of a result that does not answer its task's kind (embeddings for a `generate`
 * task, say): its hash may still match a receipt the agent signed, but nothing can check it.
 */
export function resultKindMismatch(input: TaskInput, result: TaskResult): ValidationRefusedError {
  return refuse(
    "VALIDATION_REFUSED",
    "result_kind_mismatch",
    `the result is of kind ${result.kind}, the task of kind ${input.kind}`,
    { field: "result.kind", expected: input.kind },
  );
}
