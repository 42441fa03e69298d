"""Writes the speech-to-text test fixtures (runtime/src/runtimes/speech-to-text/fixtures/):
held-out sentences read by espeak-ng's default voice as WAV files (the runtime test uses
them where espeak-ng is not installed), and the front end's output for the first of them
(log-mel of the resampled audio, float32 little-endian [80, frames]) that the TypeScript
front end must reproduce."""

import argparse
import json
import subprocess
from pathlib import Path

import numpy as np

import frontend

OUT = Path(__file__).resolve().parents[2] / "src" / "runtimes" / "speech-to-text" / "fixtures"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("work"))
    parser.add_argument("--count", type=int, default=4)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in (args.work / "test.jsonl").read_text().splitlines()]
    chosen = [r for r in rows if 30 <= len(r["target"]) <= 60][: args.count]
    for i, row in enumerate(chosen):
        wav = subprocess.run(["espeak-ng", "--stdout", row["text"]], check=True, capture_output=True).stdout
        (OUT / f"held-out-{i}.wav").write_bytes(wav)
    (OUT / "held-out.json").write_text(json.dumps(
        [{"file": f"held-out-{i}.wav", "text": r["text"], "target": r["target"]} for i, r in enumerate(chosen)],
        indent=2) + "\n")
    audio, rate = frontend.read_wav((OUT / "held-out-0.wav").read_bytes())
    mel = frontend.log_mel(frontend.resample(audio, rate))
    (OUT / "held-out-0.log-mel.f32").write_bytes(mel.astype("<f4").tobytes())
    print(f"{len(chosen)} fixtures; log-mel {mel.shape}")


if __name__ == "__main__":
    main()
