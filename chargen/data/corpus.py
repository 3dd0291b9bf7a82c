"""Read a corpus (text files or folders of them) and encode it once into a compact id array.

The encoded array is cached on disk, keyed by the SHA-256 of the raw bytes, and read back through a
memory map: a second run skips encoding, and a corpus larger than memory never sits in RAM.
Characters are Unicode code points, not bytes; a leading byte-order mark is dropped from each file.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chargen.errors import ChargenError
from chargen.data.vocab import Vocab, describe_chars

CHUNK_BYTES = 8 << 20
MAX_CODE_POINT = 0x10FFFF
DEFAULT_MAX_VOCAB = 20_000
CACHE_FORMAT = 1
# Encodings whose ASCII bytes are their own code points: pure-ASCII chunks skip decoding altogether.
ASCII_COMPATIBLE = {"utf-8", "ascii", "iso8859-1", "cp1252", "iso8859-15"}

# progress(phase, bytes_done, bytes_total): phases are "hashing", "scanning" and "encoding".
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Corpus:
    sources: tuple[str, ...]  # the files read, in order
    sha256: str  # of the raw bytes of all sources, in order, plus the encoding name
    encoding: str
    vocab: Vocab
    ids: np.ndarray  # (N,) read-only memory map of character ids

    def __len__(self) -> int:
        return len(self.ids)

    def split(self, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
        """(train, val): the last `val_fraction` of the text, contiguous, is validation."""
        n_train = int(len(self.ids) * (1.0 - val_fraction))
        return self.ids[:n_train], self.ids[n_train:]


def default_cache_dir() -> Path:
    if os.environ.get("CHARGEN_CACHE_DIR"):
        return Path(os.environ["CHARGEN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "chargen"


def resolve_sources(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given, folders expanded to their `*.txt` files in sorted order."""
    if not paths:
        raise ChargenError("no corpus given; name one or more text files or folders")
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.txt") if p.is_file())
            if not found:
                raise ChargenError(f"folder {path} has no *.txt files; point at a text file or a folder of them")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.exists():
            raise ChargenError(f"{path} is not a regular file or folder")
        else:
            raise ChargenError(f"corpus {path} does not exist")
    return files


def load_corpus(
    paths: Sequence[str | Path],
    *,
    encoding: str = "utf-8",
    vocab: Vocab | None = None,
    max_vocab: int = DEFAULT_MAX_VOCAB,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Corpus:
    """Encode the corpus (or find it in the cache) and return it memory-mapped.

    With `vocab`, the text is encoded with that vocabulary (resuming a model on new text); characters
    outside it are an error. Without, the vocabulary is the corpus's own sorted distinct characters.
    """
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ChargenError(f"unknown text encoding {encoding!r}; try utf-8, latin-1 or cp1252") from None
    files = resolve_sources(paths)
    report = progress or (lambda phase, done, total: None)
    total = sum(f.stat().st_size for f in files)

    digest = _hash_files(files, encoding, total, report)
    cache = cache_dir or default_cache_dir()
    entry = digest
    cached = _read_cache(cache, entry)
    if vocab is not None and cached is not None and cached[0] != vocab:
        # The same text under another model's vocabulary gets ids of its own.
        entry = f"{digest}-{hashlib.sha256(vocab.chars.encode()).hexdigest()[:12]}"
        cached = _read_cache(cache, entry)
    if cached is None:
        present, n_chars = _scan(files, encoding, total, report)
        if n_chars == 0:
            raise ChargenError(f"the corpus ({', '.join(map(str, files))}) is empty; give it some text")
        found = "".join(map(chr, np.flatnonzero(present)))
        if vocab is None:
            if len(found) > max_vocab:
                raise ChargenError(
                    f"the corpus has {len(found):,} distinct characters, more than --max-vocab {max_vocab:,}; "
                    "check that it is text in the right --encoding, or raise --max-vocab"
                )
            vocab = Vocab(found)
        elif missing := vocab.unknown(found):
            raise ChargenError(f"the new corpus has characters the model's vocabulary lacks, {describe_chars(missing)}")
        _encode_to_cache(files, encoding, vocab, n_chars, cache, entry, total, report)
        cached = _read_cache(cache, entry)
        assert cached is not None
    found_vocab, ids = cached
    return Corpus(tuple(str(f.resolve()) for f in files), digest, encoding, found_vocab, ids)


def _read_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            yield chunk


def _hash_files(files: list[Path], encoding: str, total: int, report: Progress) -> str:
    h = hashlib.sha256(codecs.lookup(encoding).name.encode())
    done = 0
    for f in files:
        h.update(f"\0{f.stat().st_size}\0".encode())  # file boundaries are part of the identity
        for chunk in _read_chunks(f):
            h.update(chunk)
            done += len(chunk)
            report("hashing", done, total)
    return h.hexdigest()


def _decoded_chunks(path: Path, encoding: str, ascii_as_bytes: bool = False) -> Iterator[tuple[int, str | bytes]]:
    """(raw byte count, decoded text) per chunk; bad input becomes a ChargenError that says where.

    With `ascii_as_bytes`, a pure-ASCII chunk in an ASCII-compatible encoding comes back as the raw
    bytes, which already are its code points (the common case, at memory speed).
    """
    codec = codecs.lookup(encoding).name
    fast = ascii_as_bytes and codec in ASCII_COMPATIBLE
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    lines_before = 0
    offset = 0
    first = True
    chunks = _read_chunks(path)
    for chunk in chunks:
        if b"\0" in chunk and not codec.startswith(("utf-16", "utf-32")):
            raise ChargenError(f"{path} looks like a binary file (it contains NUL bytes), not text; leave it out")
        if fast and chunk.isascii() and decoder.getstate()[0] == b"":
            lines_before += chunk.count(b"\n")
            offset += len(chunk)
            first = False
            yield len(chunk), chunk
            continue
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as e:
            line = lines_before + chunk[: e.start].count(b"\n") + 1
            bad = chunk[e.start : e.start + 1].hex()
            raise ChargenError(
                f"{path} is not valid {encoding} (byte 0x{bad} at line {line}, byte offset {offset + e.start}); "
                "pass --encoding with the file's real encoding, e.g. --encoding latin-1"
            ) from None
        except UnicodeError as e:  # e.g. UTF-16 without a byte-order mark
            raise ChargenError(f"{path} is not valid {encoding} ({e}); pass --encoding with the file's real encoding") from None
        lines_before += chunk.count(b"\n")
        offset += len(chunk)
        if first and text:
            text = text.removeprefix("\ufeff")
            first = False
        yield len(chunk), text
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeError:
        raise ChargenError(
            f"{path} is not valid {encoding}: it ends in the middle of a character; "
            "pass --encoding with the file's real encoding"
        ) from None
    if tail:
        yield 0, tail


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """A whole (small) text file as a string, with the same checks and messages as a corpus."""
    path = Path(path)
    if not path.is_file():
        raise ChargenError(f"{path} does not exist" if not path.exists() else f"{path} is not a regular file")
    return "".join(text for _, text in _decoded_chunks(path, encoding))


def _code_points(text: str | bytes) -> np.ndarray:
    if isinstance(text, bytes):  # pure ASCII: each byte is a code point
        return np.frombuffer(text, dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)


def _scan(files: list[Path], encoding: str, total: int, report: Progress) -> tuple[np.ndarray, int]:
    """Which code points occur, and how many characters there are."""
    present = np.zeros(MAX_CODE_POINT + 1, dtype=bool)
    n_chars = 0
    done = 0
    for f in files:
        for n_bytes, text in _decoded_chunks(f, encoding, ascii_as_bytes=True):
            points = _code_points(text)
            if points.dtype == np.uint8:  # bincount over 256 values is several times faster than scattering
                present[:256] |= np.bincount(points, minlength=256) > 0
            else:
                present[points] = True
            n_chars += len(text)
            done += n_bytes
            report("scanning", done, total)
    return present, n_chars


def _encode_to_cache(
    files: list[Path], encoding: str, vocab: Vocab, n_chars: int, cache: Path, entry: str, total: int, report: Progress
) -> None:
    """Write ids chunk by chunk to an .npy file (never the whole corpus in memory), then its metadata."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ChargenError(f"cannot create the corpus cache {cache} ({e.strerror}); set CHARGEN_CACHE_DIR") from None
    # Every character was checked against the vocabulary while scanning, so no -1 entry is ever read.
    table = vocab.code_point_table().astype(vocab.dtype)
    array_path = cache / f"{entry}.npy"
    tmp = cache / f"{entry}.npy.tmp-{os.getpid()}"
    header = {"descr": np.lib.format.dtype_to_descr(vocab.dtype), "fortran_order": False, "shape": (n_chars,)}
    done = written = 0
    try:
        with open(tmp, "wb") as out:
            np.lib.format.write_array_header_2_0(out, header)
            for f in files:
                for n_bytes, text in _decoded_chunks(f, encoding, ascii_as_bytes=True):
                    ids = np.take(table, _code_points(text))
                    out.write(ids.tobytes())
                    written += len(ids)
                    done += n_bytes
                    report("encoding", done, total)
        assert written == n_chars, "the corpus changed while it was being read"
        os.replace(tmp, array_path)
        meta = {"format": CACHE_FORMAT, "vocab": vocab.chars, "length": n_chars, "sources": list(map(str, files))}
        tmp_meta = cache / f"{entry}.json.tmp-{os.getpid()}"
        tmp_meta.write_text(json.dumps(meta, ensure_ascii=False))
        os.replace(tmp_meta, cache / f"{entry}.json")
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ChargenError(f"cannot write the corpus cache in {cache} ({e.strerror}); set CHARGEN_CACHE_DIR") from None


def _read_cache(cache: Path, entry: str) -> tuple[Vocab, np.ndarray] | None:
    """The cached (vocab, ids) or None; a damaged entry counts as absent and is rebuilt."""
    try:
        meta = json.loads((cache / f"{entry}.json").read_text())
        ids = np.load(cache / f"{entry}.npy", mmap_mode="r")
        if meta.get("format") != CACHE_FORMAT or ids.ndim != 1 or len(ids) != meta["length"]:
            return None
        return Vocab(meta["vocab"]), ids
    except (OSError, ValueError, KeyError, TypeError):
        return None


BUNDLED_CORPUS = "shakespeare.txt"  # in the package chargen.corpora (the top-level corpora/ folder)


def bundled_corpus() -> Path:
    from importlib.resources import files

    try:
        path = Path(str(files("chargen.corpora") / BUNDLED_CORPUS))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise ChargenError(f"the bundled corpus {BUNDLED_CORPUS} is not installed; name a corpus to train on")
    return path
