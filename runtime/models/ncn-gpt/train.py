"""Trains the byte-level BPE tokenizer and the small GPT on the corpus from data.py.

Wall-clock bounded: the learning rate follows a cosine over --minutes (or --steps,
whichever ends first), and a checkpoint is written every --save-every seconds so an
early one can be exported while training goes on.
"""

import argparse
import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from model import Gpt, GptConfig

SPECIAL_TOKENS = ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]


def chat_text(user: str, assistant: str) -> str:
    """What tokenizer_config.json's chat template renders, so the model learns the format."""
    return f"<|user|>\n{user}<|end|>\n<|assistant|>\n{assistant}<|end|>\n"


def train_tokenizer(docs: list[str], vocab_size: int, out: Path) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
    )
    tokenizer.train_from_iterator(docs, trainer)
    tokenizer.save(str(out))
    return tokenizer


def split_sentences(text: str) -> tuple[str, str] | None:
    cut = [i + 1 for i, c in enumerate(text) if c in ".;:?!" and 0 < i < len(text) - 20]
    if not cut:
        return None
    middle = cut[len(cut) // 3] if len(cut) > 2 else cut[0]
    return text[:middle].strip(), text[middle:].strip()


def build_stream(docs: list[str], tokenizer: Tokenizer, chat_fraction: float, rng: random.Random) -> list[int]:
    texts = []
    for doc in docs:
        pair = split_sentences(doc) if rng.random() < chat_fraction else None
        texts.append((chat_text(*pair) if pair else doc) + "<|endoftext|>")
    ids: list[int] = []
    for encoding in tokenizer.encode_batch(texts):
        ids.extend(encoding.ids)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("work"))
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--minutes", type=float, default=45)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save-every", type=float, default=300)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--resume", action="store_true",
        help="continue from work/checkpoint.pt and its tokenizer (fresh optimizer, new schedule)",
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    docs = [json.loads(line)["text"] for line in (args.work / "corpus.jsonl").open()]
    rng.shuffle(docs)
    if args.resume:
        tokenizer = Tokenizer.from_file(str(args.work / "tokenizer.json"))
    else:
        tokenizer = train_tokenizer(docs, args.vocab, args.work / "tokenizer.json")
    held_out = max(1, len(docs) // 100)
    train_ids = torch.tensor(build_stream(docs[held_out:], tokenizer, 0.2, rng), dtype=torch.long)
    val_ids = torch.tensor(build_stream(docs[:held_out], tokenizer, 0.2, rng), dtype=torch.long)
    print(json.dumps({"train_tokens": len(train_ids), "val_tokens": len(val_ids)}), flush=True)

    config = GptConfig(args.vocab, args.context, args.width, args.layers, args.heads)
    model = Gpt(config)
    previous = {"step": 0, "minutes": 0.0}
    if args.resume:
        checkpoint = torch.load(args.work / "checkpoint.pt", map_location="cpu")
        config = GptConfig(**checkpoint["meta"]["config"])
        model = Gpt(config)
        model.load_state_dict(checkpoint["model"])
        previous = checkpoint["meta"]
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"config": config.to_dict(), "params": params}), flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95),
    )

    def batch(ids: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.randint(0, len(ids) - args.context - 1, (size,))
        x = torch.stack([ids[s : s + args.context] for s in starts])
        y = torch.stack([ids[s + 1 : s + args.context + 1] for s in starts])
        return x, y

    @torch.no_grad()
    def evaluate() -> float:
        model.eval()
        generator_state = torch.get_rng_state()
        torch.manual_seed(0)
        losses = []
        for _ in range(8):
            x, y = batch(val_ids, args.batch)
            losses.append(F.cross_entropy(model(x).view(-1, config.vocab_size), y.view(-1)).item())
        torch.set_rng_state(generator_state)
        model.train()
        return sum(losses) / len(losses)

    def save(step: int, loss: float, val: float, elapsed: float) -> None:
        total_steps = previous["step"] + step
        meta = {"config": config.to_dict(), "params": params, "step": total_steps, "train_loss": loss,
                "val_loss": val, "minutes": previous["minutes"] + elapsed / 60,
                "tokens_seen": previous.get("tokens_seen", 0) + step * args.batch * args.context}
        torch.save({"model": model.state_dict(), "meta": meta}, args.work / "checkpoint.pt.tmp")
        (args.work / "checkpoint.pt.tmp").replace(args.work / "checkpoint.pt")
        (args.work / "train-meta.json").write_text(json.dumps(meta, indent=2))

    start = time.time()
    last_save = start
    budget = args.minutes * 60
    warmup = 100
    smooth = None
    step = 0
    while step < args.steps:
        elapsed = time.time() - start
        progress = min(1.0, max(elapsed / budget, step / args.steps))
        if progress >= 1.0:
            break
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = batch(train_ids, args.batch)
        loss = F.cross_entropy(model(x).view(-1, config.vocab_size), y.view(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        smooth = loss.item() if smooth is None else 0.98 * smooth + 0.02 * loss.item()
        step += 1
        if step % 50 == 0:
            tokens_per_s = step * args.batch * args.context / (time.time() - start)
            print(json.dumps({"step": step, "loss": round(smooth, 4), "lr": round(lr, 6),
                              "minutes": round(elapsed / 60, 2), "tokens_per_s": round(tokens_per_s)}), flush=True)
        if time.time() - last_save > args.save_every:
            val = evaluate()
            print(json.dumps({"step": step, "val_loss": round(val, 4)}), flush=True)
            save(step, smooth, val, time.time() - start)
            last_save = time.time()
    val = evaluate()
    save(step, smooth or 0.0, val, time.time() - start)
    print(json.dumps({"done": step, "train_loss": smooth, "val_loss": val,
                      "minutes": (time.time() - start) / 60}), flush=True)


if __name__ == "__main__":
    main()
