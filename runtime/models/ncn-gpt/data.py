"""Builds the public-domain training corpus from Debian packages.

Downloads (no install) bible-kjv + bible-kjv-text (King James Bible, decoded with the
package's own `bible` program), sword-text-web (World English Bible, SWORD zText blocks)
and r-cran-janeaustenr (Jane Austen's six novels, an R lazy-load database), and writes
one document per paragraph/verse group to <work>/corpus.jsonl.
"""

import argparse
import gzip
import json
import re
import struct
import subprocess
import zlib
from pathlib import Path

PACKAGES = ["bible-kjv", "bible-kjv-text", "sword-text-web", "r-cran-janeaustenr"]


def fetch(work: Path) -> Path:
    root = work / "root"
    if root.exists():
        return root
    debs = work / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, check=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root


def clean(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = text.replace("\u2014", "--").replace("\u2013", "-")
    return re.sub(r"[ \t]+", " ", text).strip()


def kjv(root: Path) -> list[str]:
    out = subprocess.run(
        [str(root / "usr/bin/bible"), "-f", "-p", str(root / "usr/lib"), "-d", "bible.data", "gen1:1-rev22:21"],
        check=True, capture_output=True, text=True,
    ).stdout
    verses = []
    for line in out.splitlines():
        match = re.match(r"^(\w+?)(\d+):(\d+) (.*)$", line)
        if match:
            verses.append((f"{match.group(1)}{match.group(2)}", clean(match.group(4))))
    return group_verses(verses)


def web(root: Path) -> list[str]:
    base = root / "usr/share/sword/modules/texts/ztext/engWEB2015eb"
    verses: list[tuple[str, str]] = []
    for testament in ("ot", "nt"):
        bzs = (base / f"{testament}.bzs").read_bytes()
        bzz = (base / f"{testament}.bzz").read_bytes()
        bzv = (base / f"{testament}.bzv").read_bytes()
        blocks = []
        for i in range(0, len(bzs), 12):
            offset, size, _ = struct.unpack("<III", bzs[i : i + 12])
            blocks.append(zlib.decompress(bzz[offset : offset + size]))
        for i in range(0, len(bzv), 10):
            block, start, size = struct.unpack("<IIH", bzv[i : i + 10])
            if size == 0:
                continue
            raw = blocks[block][start : start + size].decode("utf-8", "replace")
            # A chapter tag marks the boundary the verse grouping splits on.
            chapter = "chapter" in raw and "sID" in raw
            raw = re.sub(r"<note.*?</note>", "", raw, flags=re.S)
            raw = re.sub(r"<[^>]+>", "", raw)
            text = clean(re.sub(r"\s+([,.;:?!'\"])", r"\1", re.sub(r"\s+", " ", raw)))
            if text:
                verses.append((f"{testament}{block}" if not chapter else f"c{i}", text))
    return group_verses(verses)


def group_verses(verses: list[tuple[str, str]], per_doc: int = 6) -> list[str]:
    """Runs of consecutive verses of one chapter, so documents read as passages."""
    docs: list[str] = []
    current: list[str] = []
    chapter = None
    for key, text in verses:
        if current and (key != chapter or len(current) >= per_doc):
            docs.append(" ".join(current))
            current = []
        chapter = key
        current.append(text)
    if current:
        docs.append(" ".join(current))
    return docs


def austen(root: Path) -> list[str]:
    import rdata

    data = root / "usr/lib/R/site-library/janeaustenr/data"
    index = rdata.conversion.convert(
        rdata.parser.parse_data(gzip.decompress((data / "Rdata.rdx").read_bytes()), expand_altrep=True)
    )
    rdb = (data / "Rdata.rdb").read_bytes()
    docs: list[str] = []
    for _, (offset, length) in index["variables"].items():
        blob = rdb[int(offset) : int(offset) + int(length)]
        lines = rdata.conversion.convert(rdata.parser.parse_data(zlib.decompress(blob[4:]), expand_altrep=True))
        paragraph: list[str] = []
        for line in [*map(str, lines), ""]:
            if line.strip():
                paragraph.append(line.strip())
            elif paragraph:
                text = clean(" ".join(paragraph))
                if len(text) > 40 and not text.isupper():
                    docs.append(text)
                paragraph = []
    return docs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("work"))
    args = parser.parse_args()
    root = fetch(args.work)
    corpus = {"kjv": kjv(root), "web": web(root), "austen": austen(root)}
    with (args.work / "corpus.jsonl").open("w") as out:
        for source, docs in corpus.items():
            for doc in docs:
                out.write(json.dumps({"source": source, "text": doc}) + "\n")
    for source, docs in corpus.items():
        print(source, len(docs), "documents", sum(map(len, docs)), "characters")


if __name__ == "__main__":
    main()
