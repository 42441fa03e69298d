import { base64ToBytes } from "@ncn/protocol";

/**
 * The serialised tiny MatMul + Add + Relu model (see testing/tiny-model.ts, which
 * builds the same bytes), kept here so the runtime can prove an execution provider
 * works without a model file and without the protobuf library at run time.
 * Input x float32 [batch, 4], output y float32 [batch, 3].
 */
export const PROBE_MODEL_BASE64 =
  "CAcSCW5jbi1hZ2VudDrTAQoZCgF4CgFXEgFoGgZtYXRtdWwiBk1hdE11bAoTCgFoCgFCEgF6GgNhZGQiA0FkZAoSCgF6EgF5GgRyZWx1IgRSZWx1EgR0aW55KjsKAgQDEAEiMAAAAD8AAIC/AACAPgAAgD8AAAA/AAAAvwAAgL4AAABAAACAPwAAQD8AAMC/AAAAP0IBVyoWCgEDEAEiDM3MzD3NzEy+mpmZPkIBQloYCgF4EhMKEQgBEg0KBxIFYmF0Y2gKAggEYhgKAXkSEwoRCAESDQoHEgViYXRjaAoCCANCBAoAEA0=";

export function probeModelBytes(): Uint8Array {
  return base64ToBytes(PROBE_MODEL_BASE64);
}

/** Input of the probe model used to prove a runtime works, and the output it must give. */
export const PROBE_INPUT = [1, 2, 3, 4] as const;
export const PROBE_OUTPUT = [4.85, 0, 4.55] as const;
