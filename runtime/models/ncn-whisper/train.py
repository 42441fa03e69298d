"""Trains the whisper-shaped model on the espeak-ng shards data.py writes (and keeps
writing: new shards join as they appear). Bounded by wall-clock time: cosine learning
rate over --minutes, a checkpoint every --save-every seconds, and every --eval-every
seconds the character error rate of greedy decoding on held-out sentences spoken by
espeak-ng's default voice (written to <work>/train.log and the checkpoint's meta)."""

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

import frontend
from data import speak
from model import DecoderExport, DecoderWithPastExport, Whisper, WhisperConfig
from vocab import EOT, PROMPT, decode, encode


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


class Shards:
    def __init__(self, folder: Path):
        self.folder, self.loaded, self.items = folder, set(), []

    def refresh(self) -> None:
        for path in sorted(self.folder.glob("shard-*[0-9].npz")):
            if path.name in self.loaded:
                continue
            data = np.load(path)
            feats, tokens = data["features"], data["tokens"]
            f0 = t0 = 0
            for fl, tl in zip(data["lengths"], data["token_lengths"]):
                self.items.append((feats[f0 : f0 + fl], tokens[t0 : t0 + tl].astype(np.int64)))
                f0, t0 = f0 + fl, t0 + tl
            self.loaded.add(path.name)

    def batches(self, max_frames: int, rng: random.Random) -> list[list[int]]:
        order = sorted(range(len(self.items)), key=lambda i: len(self.items[i][0]) + rng.random() * 40)
        batches, current, longest = [], [], 0
        for i in order:
            longest = max(longest, len(self.items[i][0]))
            if current and longest * (len(current) + 1) > max_frames:
                batches.append(current)
                current, longest = [], len(self.items[i][0])
            current.append(i)
        if current:
            batches.append(current)
        rng.shuffle(batches)
        return batches


def collate(items):
    frames = max(len(f) for f, _ in items)
    frames += (-frames) % 4
    feats = torch.zeros(len(items), 80, frames)
    for b, (f, _) in enumerate(items):
        t = torch.from_numpy(f.astype(np.float32)).t()
        feats[b, :, : t.shape[1]] = t
        feats[b, :, t.shape[1] :] = t.min()  # silence
    lengths = torch.tensor([len(f) for f, _ in items])
    seq = [PROMPT + list(t) + [EOT] for _, t in items]
    width = max(len(s) for s in seq)
    tokens = torch.full((len(items), width), EOT, dtype=torch.long)
    targets = torch.full((len(items), width), -100, dtype=torch.long)
    for b, s in enumerate(seq):
        tokens[b, : len(s)] = torch.tensor(s)
        targets[b, len(PROMPT) - 1 : len(s) - 1] = torch.tensor(s[len(PROMPT) :])
    ctc_targets = torch.cat([torch.from_numpy(t) for _, t in items])
    ctc_lengths = torch.tensor([len(t) for _, t in items])
    return feats, lengths, tokens, targets, ctc_targets, ctc_lengths


@torch.no_grad()
def transcribe(model: Whisper, mel: np.ndarray, max_tokens: int = 120) -> str:
    enc = model.encoder(torch.from_numpy(mel.astype(np.float32))[None])
    first = DecoderExport(model)(torch.tensor([PROMPT]), enc)
    logits, presents = first[0], list(first[1:])
    out: list[int] = []
    step = DecoderWithPastExport(model)
    for _ in range(max_tokens):
        token = int(logits[0, -1].argmax())
        if token == EOT:
            break
        out.append(token)
        result = step(torch.tensor([[token]]), *presents)
        logits = result[0]
        for i in range(model.config.decoder_layers):
            presents[4 * i], presents[4 * i + 1] = result[1 + 2 * i], result[2 + 2 * i]
    return decode(out)


def evaluate(model: Whisper, tests: list[tuple[np.ndarray, str]]) -> tuple[float, list[str]]:
    model.eval()
    errors = chars = 0
    samples = []
    for mel, target in tests:
        got = transcribe(model, mel)
        errors += edit_distance(got, target)
        chars += len(target)
        if len(samples) < 3:
            samples.append(f"{target!r} -> {got!r}")
    model.train()
    return errors / chars, samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("work"))
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--max-frames", type=int, default=6000)
    parser.add_argument("--save-every", type=float, default=300)
    parser.add_argument("--eval-every", type=float, default=300)
    parser.add_argument("--eval-count", type=int, default=60)
    parser.add_argument("--ctc-weight", type=float, default=0.3)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = random.Random(0)
    config = WhisperConfig()
    model = Whisper(config)
    prior_minutes, prior_step = 0.0, 0
    ckpt_path = args.work / "checkpoint.pt"
    if args.resume:
        ckpt = torch.load(ckpt_path, map_location="cpu")
        model.load_state_dict(ckpt["model"])
        prior_minutes, prior_step = ckpt["meta"]["minutes"], ckpt["meta"]["step"]
    params = sum(p.numel() for p in model.parameters() if p is not model.ctc_head.weight)
    log = (args.work / "train.log").open("a")

    def say(message: str) -> None:
        print(message, flush=True)
        log.write(message + "\n")
        log.flush()

    say(f"params {params} config {json.dumps(config.to_dict())}")
    tests = []
    for line in (args.work / "test.jsonl").read_text().splitlines()[: args.eval_count]:
        row = json.loads(line)
        tests.append((frontend.log_mel(speak(row["text"], "en", 175, 50)).astype(np.float32), row["target"]))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    shards = Shards(args.work / "shards")
    start = time.time()
    budget = args.minutes * 60
    last_save = last_eval = start
    step, best_cer, losses = prior_step, None, []

    def save(cer: float | None) -> None:
        meta = {"config": config.to_dict(), "step": step, "minutes": prior_minutes + (time.time() - start) / 60,
                "cer": cer, "utterances": len(shards.items)}
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "meta": meta}, tmp)
        tmp.rename(ckpt_path)

    while time.time() - start < budget:
        shards.refresh()
        if not shards.items:
            time.sleep(10)
            continue
        for batch in shards.batches(args.max_frames, rng):
            elapsed = time.time() - start
            if elapsed >= budget:
                break
            warm = min(1.0, (step - prior_step + 1) / 60) if not args.resume else 1.0
            lr = args.lr * warm * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
            for group in optimizer.param_groups:
                group["lr"] = lr
            feats, lengths, tokens, targets, ctc_targets, ctc_lengths = collate([shards.items[i] for i in batch])
            logits, ctc, enc_lengths = model(feats, lengths, tokens)
            ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
            ctc_loss = F.ctc_loss(ctc.transpose(0, 1), ctc_targets, enc_lengths, ctc_lengths, blank=EOT, zero_infinity=True)
            loss = (1 - args.ctc_weight) * ce + args.ctc_weight * ctc_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            losses.append((ce.item(), ctc_loss.item()))
            now = time.time()
            if step % 20 == 0:
                ce_mean = sum(c for c, _ in losses) / len(losses)
                ctc_mean = sum(c for _, c in losses) / len(losses)
                say(f"step {step} min {(now - start) / 60:.1f} lr {lr:.2e} ce {ce_mean:.3f} ctc {ctc_mean:.3f} "
                    f"utts {len(shards.items)} batch {len(batch)}")
                losses = []
            if now - last_eval >= args.eval_every:
                cer, samples = evaluate(model, tests)
                say(f"eval step {step} cer {cer:.4f} " + " | ".join(samples))
                last_eval = time.time()
                best_cer = cer
                save(cer)
                last_save = time.time()
            elif now - last_save >= args.save_every:
                save(best_cer)
                last_save = now
            if step % 200 == 0:
                shards.refresh()
    cer, samples = evaluate(model, tests)
    say(f"final step {step} cer {cer:.4f} " + " | ".join(samples))
    save(cer)


if __name__ == "__main__":
    main()
