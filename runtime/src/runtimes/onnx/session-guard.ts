import type { InferenceSession } from "onnxruntime-node";

/**
 * onnxruntime's session config entry naming the folder external initializers are read from
 * when a session is built from bytes. Without it they resolve against the working directory.
 */
export const EXTERNAL_INITIALIZERS_FOLDER = "session.model_external_initializers_file_folder_path";
/** Session config entry fixing the model format, so bytes are only ever parsed as ONNX protobuf. */
export const LOAD_MODEL_FORMAT = "session.load_model_format";

type SessionOptions = InferenceSession.SessionOptions;

/**
 * Session config entries that stop onnxruntime's thread pools from spinning while they wait
 * for work. A spinning pool keeps every core it has busy between runs; an agent shares its
 * machine (on a devnet, with the gateway, the validators and the other agents), and the time
 * it burned there came out of theirs: a streamed generation's first token reached the client
 * later, the more tokens the agent went on to decode.
 */
export const NO_SPINNING = {
  "session.intra_op.allow_spinning": "0",
  "session.inter_op.allow_spinning": "0",
} as const;

/**
 * `options` with external initializers resolved only from `folder` (a private folder kept
 * empty, so any external data a model names is not found) and the model format fixed to
 * ONNX, the format `findExternalData` checks. Every session the agent creates gets these.
 *
 * @example ort.InferenceSession.create(bytes, guardSessionOptions({ logSeverityLevel: 3 }, privateDir))
 */
export function guardSessionOptions(options: SessionOptions, folder: string): SessionOptions {
  return {
    ...options,
    extra: {
      ...NO_SPINNING,
      ...options.extra,
      [EXTERNAL_INITIALIZERS_FOLDER]: folder,
      [LOAD_MODEL_FORMAT]: "ONNX",
    },
  };
}

/** Whether `options` came through `guardSessionOptions` (checked where sessions are built). */
export function isGuarded(options: { extra?: unknown }): boolean {
  const extra = options.extra as Record<string, unknown> | undefined;
  return typeof extra?.[EXTERNAL_INITIALIZERS_FOLDER] === "string" && extra[LOAD_MODEL_FORMAT] === "ONNX";
}
