export { errorFrame, newStream, STREAM_LIMITS, step } from "./step.ts";
export type * from "./types.ts";
