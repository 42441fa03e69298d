export { forgetAt, forgettable } from "./retention.ts";
export { cancellable, isCurrentTask, newRequest, step, streamsTokens } from "./step.ts";
export { TokenLog } from "./token-log.ts";
export type * from "./types.ts";
export { responseOf, taskFrameOf } from "./view.ts";
