"""The character vocabulary, shared by data, training, export and tokenizer.json."""

import re

SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]
CHARS = list(" abcdefghijklmnopqrstuvwxyz'")
VOCAB = SPECIALS + CHARS
EOT, SOT = 0, 1
PROMPT = [1, 2, 3, 4]  # <|startoftranscript|><|en|><|transcribe|><|notimestamps|>
CHAR_ID = {c: i + len(SPECIALS) for i, c in enumerate(CHARS)}


def normalize(text: str) -> str:
    """Lowercase letters, apostrophes and single spaces: what can be heard."""
    text = re.sub(r"[^a-z' ]+", " ", text.lower().replace("-", " "))
    return re.sub(r"\s+", " ", text).strip()


def encode(text: str) -> list[int]:
    return [CHAR_ID[c] for c in text]


def decode(ids: list[int]) -> str:
    return "".join(VOCAB[i] for i in ids if i >= len(SPECIALS))
