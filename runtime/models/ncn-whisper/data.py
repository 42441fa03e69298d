"""Speech data: espeak-ng reading sentences of the ncn-gpt corpus (public-domain Bible
and Jane Austen text), many voices, variants, speeds and pitches, some with added noise.

Writes <work>/shards/shard-NNNN.npz (log-mel frames as float16, target character ids) as
it goes, so training can start on the first shards, and <work>/test.jsonl: held-out
sentences (never spoken in training) for measuring the character error rate.
"""

import argparse
import hashlib
import json
import random
import re
import subprocess
from multiprocessing import Pool
from pathlib import Path

import numpy as np

import frontend
from vocab import encode, normalize

VOICES = [
    "en", "en", "en", "en-us", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-029",
    "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
]
VARIANTS = ["", "", "", "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5"]
ALLOWED = re.compile(r"^[A-Za-z ,;:'!?.\-]+$")


def sentences(corpus: Path) -> list[str]:
    found: set[str] = set()
    for line in corpus.read_text().splitlines():
        text = json.loads(line)["text"]
        for piece in re.split(r"(?<=[.!?;:])\s+", text):
            piece = piece.strip()
            # long sentences are cut at commas into spoken-length clauses
            parts = [piece] if len(piece) <= 90 else [p.strip() for p in re.split(r"(?<=,)\s+", piece)]
            for part in parts:
                target = normalize(part)
                if ALLOWED.match(part) and 10 <= len(target) <= 90 and len(target.split()) >= 2:
                    found.add(part)
    return sorted(found)


def held_out(sentence: str) -> bool:
    return hashlib.sha256(normalize(sentence).encode()).digest()[0] < 5  # ~2%


def speak(sentence: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", sentence],
        check=True, capture_output=True,
    ).stdout
    audio, rate = frontend.read_wav(wav)
    return frontend.resample(audio, rate)


def make_shard(job: tuple[Path, int, list[str]]) -> str:
    path, seed, batch = job
    rng = random.Random(seed)
    features, lengths, tokens, token_lengths = [], [], [], []
    for sentence in batch:
        if rng.random() < 0.25:
            voice, speed, pitch = "en", rng.randint(150, 200), rng.randint(40, 60)
        else:
            variant = rng.choice(VARIANTS)
            voice = rng.choice(VOICES) + (f"+{variant}" if variant else "")
            speed, pitch = rng.randint(120, 220), rng.randint(20, 80)
        audio = speak(sentence, voice, speed, pitch)
        if rng.random() < 0.3:
            level = np.sqrt(np.mean(audio**2)) * 10 ** (-rng.uniform(15, 45) / 20)
            audio = audio + np.random.default_rng(seed).normal(0, level, len(audio))
        audio *= rng.uniform(0.3, 1.0) / max(1e-6, np.abs(audio).max())
        mel = frontend.log_mel(audio).T.astype(np.float16)
        ids = encode(normalize(sentence))
        features.append(mel)
        lengths.append(len(mel))
        tokens.extend(ids)
        token_lengths.append(len(ids))
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, features=np.concatenate(features), lengths=np.array(lengths),
             tokens=np.array(tokens, np.int16), token_lengths=np.array(token_lengths))
    tmp.rename(path)
    return path.name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("work"))
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/ncn-gpt-work/corpus.jsonl"))
    parser.add_argument("--utterances", type=int, default=40000)
    parser.add_argument("--shard", type=int, default=500)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    all_sentences = sentences(args.corpus)
    train = [s for s in all_sentences if not held_out(s)]
    test = [s for s in all_sentences if held_out(s)]
    print(f"{len(all_sentences)} sentences: {len(train)} train, {len(test)} held out", flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1234)
    rng.shuffle(test)
    with (args.work / "test.jsonl").open("w") as out:
        for sentence in test[:400]:
            out.write(json.dumps({"text": sentence, "target": normalize(sentence)}) + "\n")
    shards = args.work / "shards"
    shards.mkdir(exist_ok=True)
    picks = [rng.choice(train) for _ in range(args.utterances)]
    jobs = [
        (shards / f"shard-{i:04d}.npz", i, picks[start : start + args.shard])
        for i, start in enumerate(range(0, len(picks), args.shard))
        if not (shards / f"shard-{i:04d}.npz").exists()
    ]
    with Pool(args.processes) as pool:
        for name in pool.imap(make_shard, jobs):
            print(name, flush=True)


if __name__ == "__main__":
    main()
