export * from "./eip712.ts";
export * from "./primitives.ts";
