// Written by runtime/models/ncn-whisper/write-manifest.ts from the files in
// runtime/assets/ncn-whisper/: their sha256 and size. Do not edit by hand.
export const NCN_WHISPER_FILES = {
  "encoder_model.onnx": {
    sha256: "0xd9e34f8b12e57d9f48669a25cb3d87321701cf8e0e3a68f8dc41f2dadaad7dcf",
    size: 8966601,
  },
  "decoder_model.onnx": {
    sha256: "0x9aec308ede27cdb07dcebc23c3bbb263cebaefb24261c1d4b04264d6f088e73d",
    size: 7343567,
  },
  "decoder_with_past_model.onnx": {
    sha256: "0x5e6b4b62539a89b845d1741b8f672b21683492842b42b0581514f61b79015acd",
    size: 6444757,
  },
  "decoder_model_merged.onnx": {
    sha256: "0x443ec38caa34dc5389a0df886193a8b5cf832e2945c01b8e68a50cd562879bf8",
    size: 7431076,
  },
  "tokenizer.json": {
    sha256: "0x6a28e618d747319f2ece524a6d76ec3336fa94a1554795371385fea8f1a1c62c",
    size: 2135,
  },
  "ncn-whisper.speech-to-text": {
    sha256: "0x6b01ed48751ff2d9dc117e6a08562718fd1ff96653278c647371eb49f8782f23",
    size: 938,
  },
} as const;

/** The manifest's model settings, as write-manifest.ts wrote them. */
export const NCN_WHISPER_MAX_TARGET_POSITIONS = 128;
