export { cancellable, isCurrentTask, newRequest, step } from "./step.ts";
export type * from "./types.ts";
export { responseOf, taskFrameOf } from "./view.ts";
