"""Exports a checkpoint to ONNX in the Hugging Face decoder layout with a KV cache, checks
the ONNX logits against torch (full pass and cached step), and writes the model files.

Inputs: input_ids, attention_mask, position_ids, past_key_values.{i}.key/.value
Outputs: logits, present.{i}.key/.value
"""

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from model import Gpt, GptConfig, GptWithCache

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def export(gpt: Gpt, path: Path) -> None:
    config = gpt.config
    head = config.n_embd // config.n_head
    wrapper = GptWithCache(gpt).eval()
    past_length, length = 3, 2
    past = []
    input_names = ["input_ids", "attention_mask", "position_ids"]
    output_names = ["logits"]
    dynamic_axes = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "logits": {0: "batch_size", 1: "sequence_length"},
    }
    for i in range(config.n_layer):
        for kind in ("key", "value"):
            past.append(torch.randn(1, config.n_head, past_length, head))
            input_names.append(f"past_key_values.{i}.{kind}")
            output_names.append(f"present.{i}.{kind}")
            dynamic_axes[f"past_key_values.{i}.{kind}"] = {0: "batch_size", 2: "past_sequence_length"}
            dynamic_axes[f"present.{i}.{kind}"] = {0: "batch_size", 2: "total_sequence_length"}
    args = (
        torch.randint(0, config.vocab_size, (1, length)),
        torch.ones(1, past_length + length, dtype=torch.long),
        torch.arange(past_length, past_length + length)[None],
        *past,
    )
    torch.onnx.export(
        wrapper, args, str(path), input_names=input_names, output_names=output_names,
        dynamic_axes=dynamic_axes, opset_version=17, dynamo=False, do_constant_folding=True,
    )


def verify(gpt: Gpt, path: Path, tokenizer_path: Path) -> float:
    """Largest |logit difference| between torch and onnxruntime, full pass then one cached step."""
    from tokenizers import Tokenizer

    config = gpt.config
    head = config.n_embd // config.n_head
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids = Tokenizer.from_file(str(tokenizer_path)).encode("And it came to pass, when the king").ids
    with torch.no_grad():
        want = gpt(torch.tensor([ids])).numpy()
    empty = {
        f"past_key_values.{i}.{kind}": np.zeros((1, config.n_head, 0, head), np.float32)
        for i in range(config.n_layer) for kind in ("key", "value")
    }
    prefix = ids[:-1]
    out = session.run(None, {
        "input_ids": np.array([prefix], np.int64),
        "attention_mask": np.ones((1, len(prefix)), np.int64),
        "position_ids": np.arange(len(prefix), dtype=np.int64)[None],
        **empty,
    })
    worst = float(np.abs(out[0] - want[:, :-1]).max())
    presents = {
        f"past_key_values.{i}.{kind}": out[1 + 2 * i + (kind == "value")]
        for i in range(config.n_layer) for kind in ("key", "value")
    }
    step = session.run(None, {
        "input_ids": np.array([ids[-1:]], np.int64),
        "attention_mask": np.ones((1, len(ids)), np.int64),
        "position_ids": np.array([[len(ids) - 1]], np.int64),
        **presents,
    })
    return max(worst, float(np.abs(step[0][0, -1] - want[0, -1]).max()))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("work"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "assets" / "ncn-gpt")
    args = parser.parse_args()
    checkpoint = torch.load(args.work / "checkpoint.pt", map_location="cpu")
    gpt = Gpt(GptConfig(**checkpoint["meta"]["config"]))
    gpt.load_state_dict(checkpoint["model"])
    gpt.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "model.onnx"
    export(gpt, model_path)
    shutil.copy(args.work / "tokenizer.json", args.out / "tokenizer.json")
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": gpt.config.n_positions,
        "bos_token": "<|endoftext|>",
        "eos_token": "<|end|>",
        "unk_token": None,
        "pad_token": "<|endoftext|>",
        "additional_special_tokens": ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"],
        "add_bos_token": False,
        "chat_template": CHAT_TEMPLATE,
    }
    (args.out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
    worst = verify(gpt, model_path, args.out / "tokenizer.json")
    print(json.dumps({"max_abs_logit_diff": worst}))
    assert worst < 1e-3, f"ONNX logits differ from torch by {worst}"
    files = {p.name: {"sha256": sha256(p), "size": p.stat().st_size}
             for p in sorted(args.out.iterdir()) if p.suffix in (".onnx", ".json")}
    meta = {**checkpoint["meta"], "max_abs_logit_diff": worst, "files": files}
    (args.work / "export-meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
