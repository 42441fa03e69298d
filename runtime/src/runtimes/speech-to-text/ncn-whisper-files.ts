// Written by runtime/models/ncn-whisper/write-manifest.ts from the files in
// runtime/assets/ncn-whisper/: their sha256 and size. Do not edit by hand.
export const NCN_WHISPER_FILES = {
  "encoder_model.onnx": {
    sha256: "0x9efcbd371b135a3bd37f9d35147a4069f07ae22c2d7f1adc060dcc9636fb45a4",
    size: 8966601,
  },
  "decoder_model.onnx": {
    sha256: "0x818b925f21c72eba4b320b16e12b2011a7a5bd13748319b301bbd309a6600f1d",
    size: 7343567,
  },
  "decoder_with_past_model.onnx": {
    sha256: "0xad1d2c62c6cdccc54d69497df20ee60818bffec4e19691a7a9cf7537b61fddbc",
    size: 6444757,
  },
  "decoder_model_merged.onnx": {
    sha256: "0x7c87400598ed9df80bace2691c21896373d604387e949a60e551784f26184c65",
    size: 7431076,
  },
  "tokenizer.json": {
    sha256: "0x6a28e618d747319f2ece524a6d76ec3336fa94a1554795371385fea8f1a1c62c",
    size: 2135,
  },
  "ncn-whisper.speech-to-text": {
    sha256: "0x1419ab2f0f8c23b3aa18d99b5533dd606ec6b78f9ace2caf274542c48b0696e0",
    size: 938,
  },
} as const;

/** The manifest's model settings, as write-manifest.ts wrote them. */
export const NCN_WHISPER_MAX_TARGET_POSITIONS = 128;
