export {
  BaseError as NcnError,
  type ErrorCode,
  type NcnDomain,
  ncnDomain,
  type ProgressEvent as RequestProgressEvent,
  type RequestStreamEvent,
  readRequestEvents,
  readSse,
  type SseEvent,
  type Tensor,
  type TensorJson,
  type TokenEvent,
} from "@ncn/protocol";
export * from "./chain.ts";
export * from "./client.ts";
export type { GenerateStream } from "./generate-stream.ts";
export * from "./stream.ts";
export * from "./verify.ts";
