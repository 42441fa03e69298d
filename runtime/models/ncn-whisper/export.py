"""Exports a checkpoint to ONNX in the Hugging Face whisper layout, checks onnxruntime
against torch, and writes the model files to runtime/assets/ncn-whisper/:

- encoder_model.onnx: input_features [batch, 80, frames] -> last_hidden_state
- decoder_model.onnx: input_ids, encoder_hidden_states -> logits,
  present.{i}.decoder.key/value, present.{i}.encoder.key/value
- decoder_with_past_model.onnx: input_ids, past_key_values.{i}.decoder/encoder.key/value
  -> logits, present.{i}.decoder.key/value
- decoder_model_merged.onnx: the two decoders in one graph switched by use_cache_branch
  (merge.py), the layout Optimum writes; the runtime's tests load both layouts
- tokenizer.json: byte-level BPE without merges (one token per character, whisper's
  special tokens), so it decodes like whisper's own tokenizer.json
- preprocessor_config.json, config.json, generation_config.json: the front end and the
  decoder prompt, as Hugging Face whisper exports carry them
"""

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import onnxruntime
import torch

import frontend
from data import speak
from merge import merge
from model import DecoderExport, DecoderWithPastExport, EncoderExport, Whisper, WhisperConfig
from train import edit_distance
from vocab import CHARS, EOT, PROMPT, SOT, SPECIALS, VOCAB, decode


def export_all(model: Whisper, out: Path) -> None:
    c = model.config
    hd = c.d_model // c.n_head
    feats = torch.randn(1, c.n_mels, 200)
    torch.onnx.export(
        EncoderExport(model), (feats,), str(out / "encoder_model.onnx"),
        input_names=["input_features"], output_names=["last_hidden_state"],
        dynamic_axes={"input_features": {0: "batch_size", 2: "feature_length"},
                      "last_hidden_state": {0: "batch_size", 1: "encoder_sequence_length"}},
        opset_version=17, dynamo=False, do_constant_folding=True,
    )
    enc = torch.randn(1, 50, c.d_model)
    names_out, axes = ["logits"], {
        "input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
        "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length"},
        "logits": {0: "batch_size", 1: "decoder_sequence_length"},
    }
    for i in range(c.decoder_layers):
        for part in ("decoder.key", "decoder.value", "encoder.key", "encoder.value"):
            names_out.append(f"present.{i}.{part}")
            seq = "past_decoder_sequence_length + 1" if part.startswith("decoder") else "encoder_sequence_length_out"
            axes[f"present.{i}.{part}"] = {0: "batch_size", 2: seq if part.startswith("encoder") else "decoder_sequence_length"}
    torch.onnx.export(
        DecoderExport(model), (torch.tensor([PROMPT]), enc), str(out / "decoder_model.onnx"),
        input_names=["input_ids", "encoder_hidden_states"], output_names=names_out, dynamic_axes=axes,
        opset_version=17, dynamo=False, do_constant_folding=True,
    )
    past, names_in, names_out = [], ["input_ids"], ["logits"]
    axes = {"input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
            "logits": {0: "batch_size", 1: "decoder_sequence_length"}}
    for i in range(c.decoder_layers):
        for part in ("decoder.key", "decoder.value", "encoder.key", "encoder.value"):
            length = 5 if part.startswith("decoder") else 50
            past.append(torch.randn(1, c.n_head, length, hd))
            names_in.append(f"past_key_values.{i}.{part}")
            axes[f"past_key_values.{i}.{part}"] = {
                0: "batch_size", 2: "past_decoder_sequence_length" if part.startswith("decoder") else "encoder_sequence_length_out"}
        for part in ("decoder.key", "decoder.value"):
            names_out.append(f"present.{i}.{part}")
            axes[f"present.{i}.{part}"] = {0: "batch_size", 2: "past_decoder_sequence_length + 1"}
    torch.onnx.export(
        DecoderWithPastExport(model), (torch.tensor([[7]]), *past), str(out / "decoder_with_past_model.onnx"),
        input_names=names_in, output_names=names_out, dynamic_axes=axes,
        opset_version=17, dynamo=False, do_constant_folding=True,
    )


class OnnxWhisper:
    def __init__(self, folder: Path, layers: int):
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = 2
        new = lambda name: onnxruntime.InferenceSession(str(folder / name), opts, providers=["CPUExecutionProvider"])
        self.encoder, self.decoder, self.step = new("encoder_model.onnx"), new("decoder_model.onnx"), new("decoder_with_past_model.onnx")
        self.layers = layers

    def transcribe(self, mel: np.ndarray, max_tokens: int = 120) -> tuple[list[int], np.ndarray]:
        enc = self.encoder.run(None, {"input_features": mel[None].astype(np.float32)})[0]
        out = self.decoder.run(None, {"input_ids": np.array([PROMPT], np.int64), "encoder_hidden_states": enc})
        logits, presents = out[0], out[1:]
        cross = {f"past_key_values.{i}.encoder.{kv}": presents[4 * i + 2 + j] for i in range(self.layers) for j, kv in enumerate(("key", "value"))}
        own = {f"past_key_values.{i}.decoder.{kv}": presents[4 * i + j] for i in range(self.layers) for j, kv in enumerate(("key", "value"))}
        tokens: list[int] = []
        first_logits = logits
        for _ in range(max_tokens):
            token = int(logits[0, -1].argmax())
            if token == EOT:
                break
            tokens.append(token)
            out = self.step.run(None, {"input_ids": np.array([[token]], np.int64), **own, **cross})
            logits = out[0]
            own = {f"past_key_values.{i}.decoder.{kv}": out[1 + 2 * i + j] for i in range(self.layers) for j, kv in enumerate(("key", "value"))}
        return tokens, first_logits


def tokenizer_json() -> dict:
    byte_space = "\u0120"  # GPT-2's byte-level alphabet writes the space as "Ġ"
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for i, ch in enumerate(CHARS):
        vocab[byte_space if ch == " " else ch] = len(SPECIALS) + i
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, s in enumerate(SPECIALS)],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": []},
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("work"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "assets" / "ncn-whisper")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--test-count", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(2)
    checkpoint = torch.load(args.checkpoint or args.work / "checkpoint.pt", map_location="cpu")
    config = checkpoint["meta"]["config"]
    config["conv_strides"] = tuple(config["conv_strides"])
    model = Whisper(WhisperConfig(**config))
    model.load_state_dict(checkpoint["model"])
    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    export_all(model, args.out)
    merge(args.out / "decoder_model.onnx", args.out / "decoder_with_past_model.onnx", args.out / "decoder_model_merged.onnx")
    (args.out / "tokenizer.json").write_text(json.dumps(tokenizer_json(), ensure_ascii=False, indent=2) + "\n")
    c = model.config
    (args.out / "config.json").write_text(json.dumps({
        "model_type": "whisper", "architectures": ["WhisperForConditionalGeneration"],
        "vocab_size": c.vocab_size, "num_mel_bins": c.n_mels, "d_model": c.d_model,
        "encoder_layers": c.encoder_layers, "decoder_layers": c.decoder_layers,
        "encoder_attention_heads": c.n_head, "decoder_attention_heads": c.n_head,
        "max_source_positions": c.max_source_positions, "max_target_positions": c.max_target_positions,
        "decoder_start_token_id": SOT, "eos_token_id": EOT, "pad_token_id": EOT, "bos_token_id": EOT,
    }, indent=2) + "\n")
    (args.out / "preprocessor_config.json").write_text(json.dumps({
        "feature_extractor_type": "WhisperFeatureExtractor", "feature_size": frontend.N_MELS,
        "sampling_rate": frontend.SAMPLE_RATE, "hop_length": frontend.HOP, "n_fft": frontend.N_FFT,
        "chunk_length": 30, "n_samples": 480000, "nb_max_frames": 3000, "padding_value": 0.0,
    }, indent=2) + "\n")

    # torch against onnxruntime on a held-out sentence, then the CER of the ONNX files
    tests = [json.loads(line) for line in (args.work / "test.jsonl").read_text().splitlines()][: args.test_count]
    onnx_model = OnnxWhisper(args.out, c.decoder_layers)
    mel = frontend.log_mel(speak(tests[0]["text"], "en", 175, 50)).astype(np.float32)
    with torch.no_grad():
        enc = model.encoder(torch.from_numpy(mel)[None])
        want = DecoderExport(model)(torch.tensor([PROMPT]), enc)[0].numpy()
    _, got = onnx_model.transcribe(mel)
    diff = float(np.abs(got - want).max())
    # cached steps: three more tokens one at a time against one full torch pass
    extra = [10, 11, 12]
    with torch.no_grad():
        full = DecoderExport(model)(torch.tensor([PROMPT + extra]), enc)[0].numpy()
    enc_np = enc.numpy()
    out = onnx_model.decoder.run(None, {"input_ids": np.array([PROMPT], np.int64), "encoder_hidden_states": enc_np})
    names = [o.name for o in onnx_model.decoder.get_outputs()]
    feeds = {n.replace("present.", "past_key_values."): v for n, v in zip(names[1:], out[1:])}
    step_names = [o.name for o in onnx_model.step.get_outputs()]
    for k, token in enumerate(extra):
        step = onnx_model.step.run(None, {"input_ids": np.array([[token]], np.int64), **feeds})
        diff = max(diff, float(np.abs(step[0][0, -1] - full[0, len(PROMPT) + k]).max()))
        feeds.update({n.replace("present.", "past_key_values."): v for n, v in zip(step_names[1:], step[1:])})
    print(f"max |logit diff| torch vs onnx: {diff:.2e}")
    if diff > 1e-3:
        raise SystemExit("ONNX logits differ from torch")
    results = {}
    for name, voice, speed, pitch in (("default voice", "en", 175, 50), ("en-us, speed 160", "en-us", 160, 50)):
        errors = chars = 0
        for row in tests:
            tokens, _ = onnx_model.transcribe(frontend.log_mel(speak(row["text"], voice, speed, pitch)).astype(np.float32))
            errors += edit_distance(decode(tokens), row["target"])
            chars += len(row["target"])
        results[name] = round(errors / chars, 4)
        print(f"CER on {len(tests)} held-out sentences, {name}: {errors / chars:.4f}")
    params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("ctc_head"))
    files = {name: {"sha256": sha256(args.out / name), "size": (args.out / name).stat().st_size}
             for name in sorted(p.name for p in args.out.iterdir() if p.is_file() and not p.name.endswith(".speech-to-text"))}
    meta = {"config": checkpoint["meta"]["config"], "params": params, "step": checkpoint["meta"]["step"],
            "minutes": checkpoint["meta"]["minutes"], "utterances": checkpoint["meta"].get("utterances"),
            "held_out_sentences": len(tests), "cer": results, "max_abs_logit_diff": diff, "files": files}
    (args.work / "export-meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
