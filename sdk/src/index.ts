export { BaseError as NcnError, type ErrorCode } from "@ncn/protocol";
export * from "./chain.ts";
export * from "./client.ts";
export * from "./sse.ts";
export * from "./stream.ts";
export * from "./verify.ts";
