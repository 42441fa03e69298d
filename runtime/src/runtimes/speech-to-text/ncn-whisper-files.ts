// Written by runtime/models/ncn-whisper/write-manifest.ts from the files in
// runtime/assets/ncn-whisper/: their sha256 and size. Do not edit by hand.
export const NCN_WHISPER_FILES = {
  "encoder_model.onnx": {
    sha256: "0x4aed4332fa3b6867e8367f5281cc5839a59f293c0b89de7bb96133a40f6be5b6",
    size: 8955273,
  },
  "decoder_model.onnx": {
    sha256: "0x0603f5e70da095b58a55036c24c87b69f96d27b946cb51fb46141cc4e14be0bb",
    size: 7330823,
  },
  "decoder_with_past_model.onnx": {
    sha256: "0xb7d42cf2c254ad507e6d6f7b4350f107cfe97e668a57712a5c862ce559230eb0",
    size: 6432013,
  },
  "decoder_model_merged.onnx": {
    sha256: "0xfe3a6eb4a85ef3542275dc899ae2c13deebe0071ba22b89e947ea448735cab2a",
    size: 7420978,
  },
  "tokenizer.json": {
    sha256: "0x6a28e618d747319f2ece524a6d76ec3336fa94a1554795371385fea8f1a1c62c",
    size: 2135,
  },
  "ncn-whisper.speech-to-text": {
    sha256: "0x203a61e32ee19a9d3575e81dddf566a23df34016f563392e9180650b046c99f3",
    size: 938,
  },
} as const;

/** The manifest's model settings, as write-manifest.ts wrote them. */
export const NCN_WHISPER_MAX_TARGET_POSITIONS = 128;
