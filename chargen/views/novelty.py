"""Is the model writing new text or copying its training text?

For text: the share of generated n-grams (n = 10, 20, 40, 80 characters) found verbatim in the
training text, and the longest copied passage with where it occurs, against the same figures for the
held-out validation text (what a model that copies nothing would reach: ordinary phrases recur). The
training text's n-grams are hashed and sorted once and cached beside the encoded corpus.

For a line-mode model: which generated items are in the training set, in the validation set, or new
(makemore's report).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from chargen.config import DEFAULT_TEMPERATURE
from chargen.data.corpus import Corpus, default_cache_dir
from chargen.store.sources import training_corpus

if TYPE_CHECKING:
    from chargen.store.record import Checkpoint


def validation_text(checkpoint: Checkpoint) -> np.ndarray:
    """The ids of the run's held-out text (its training corpus's last val_fraction)."""
    return training_corpus(checkpoint).split(checkpoint.train_config.val_fraction)[1]


@dataclass(frozen=True)
class ItemSets:
    """A line-mode run's training and validation items."""

    train: frozenset[str]
    val: frozenset[str]

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> ItemSets:
        from chargen.data.items import item_texts

        train, val = item_texts(training_corpus(checkpoint), checkpoint.train_config.val_fraction)
        return cls(frozenset(train), frozenset(val))

    def where(self, item: str) -> str:
        """'train', 'val' or 'new'."""
        return "train" if item in self.train else "val" if item in self.val else "new"

    def tally(self, items: Iterable[str]) -> dict[str, int]:
        counts = {"train": 0, "val": 0, "new": 0}
        for item in items:
            counts[self.where(item)] += 1
        return counts


# -- copying from a text: n-grams ------------------------------------------------------------------

SIZES = (10, 20, 40, 80)  # n-gram lengths whose copying is counted
BASE = np.uint64(0x9E3779B97F4A7C15)  # multiplier of the polynomial rolling hash, modulo 2^64
INDEX_FORMAT = 1


def _power(n: int) -> np.uint64:
    return np.uint64(pow(int(BASE), n, 1 << 64))


def ngram_hashes(ids: np.ndarray, sizes: tuple[int, ...] = SIZES) -> Iterator[tuple[int, np.ndarray]]:
    """(n, (len(ids) - n + 1,) uint64) for each n of `sizes` (10 and its doublings): a polynomial hash
    of every n-gram, each size from the last by doubling (a 2n-gram's hash from two n-grams'), so a
    handful of vectorised passes make them all and at most four arrays live at once."""
    if len(ids) < 10:
        return
    with np.errstate(over="ignore"):
        h1 = ids.astype(np.uint64) + np.uint64(1)  # +1: id 0 must still count
        h2 = h1[:-1] * _power(1) + h1[1:]
        del h1  # each array is 8 bytes a character: free what the next sizes no longer need
        h4 = h2[:-2] * _power(2) + h2[2:]
        h8 = h4[:-4] * _power(4) + h4[4:]
        del h4
        h, n = h8[:-2] * _power(2) + h2[8:], 10  # 10-grams
        del h2, h8
        while n <= max(sizes) and len(h):
            if n in sizes:
                yield n, h
            h, n = h[:-n] * _power(n) + h[n:], 2 * n


def _sorted_distinct(values: np.ndarray) -> np.ndarray:
    """np.unique's result by sorting and dropping repeats: numpy 2.x's np.unique of 100M random uint64
    took 300 s here, this 3 s."""
    ordered = np.sort(values)
    keep = np.empty(len(ordered), bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


@dataclass(frozen=True)
class NgramIndex:
    """The distinct n-grams of a training text, hashed and sorted, for fast lookups; saved in the corpus
    cache beside the encoded text (about 8 bytes per distinct n-gram per size)."""

    sets: dict[int, np.ndarray]  # {n: sorted distinct uint64 hashes}

    @classmethod
    def build(cls, ids: np.ndarray) -> NgramIndex:
        return cls({n: _sorted_distinct(h) for n, h in ngram_hashes(ids)})

    @classmethod
    def cached(cls, ids: np.ndarray, key: str, cache_dir: Path | None = None) -> NgramIndex:
        """Built once per training text (`key` names it), then read back from the cache."""
        path = (cache_dir or default_cache_dir()) / f"{key}.ngrams-v{INDEX_FORMAT}.npz"
        try:
            with np.load(path) as saved:
                return cls({int(k.removeprefix("n")): saved[k] for k in saved.files})
        except (OSError, ValueError, KeyError):
            pass
        index = cls.build(ids)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
            np.savez(tmp, **{f"n{n}": h for n, h in index.sets.items()})
            os.replace(tmp, path)
        except OSError:
            pass  # an index that cannot be saved is rebuilt next time
        return index

    def found(self, ids: np.ndarray) -> dict[int, np.ndarray]:
        """{n: (len(ids) - n + 1,) bool}: which n-grams of `ids` occur in the indexed text."""
        out = {}
        for n, h in ngram_hashes(ids, tuple(self.sets)):
            known = self.sets[n]
            at = np.minimum(np.searchsorted(known, h), max(len(known) - 1, 0))
            out[n] = known[at] == h if len(known) else np.zeros(len(h), bool)
        return out


@dataclass(frozen=True)
class Passage:
    text: str  # the longest stretch of generated text found verbatim in the training text
    where: str  # where in the training text, e.g. "line 1,204 of hamlet.txt"


@dataclass(frozen=True)
class Copying:
    """How much of some text is found verbatim in the training text."""

    shares: dict[int, float]  # {n: the share of the text's n-grams that occur in the training text}
    longest: Passage | None  # None when no 10-gram was copied


class TrainingText:
    """The training part of a run's corpus, and its n-gram index."""

    def __init__(self, corpus: Corpus, val_fraction: float) -> None:
        self.corpus = corpus
        self.ids, self.val_ids = corpus.split(val_fraction)
        self.index = NgramIndex.cached(self.ids, f"{corpus.sha256}-{len(self.ids)}")
        self._bytes: bytes | None = None

    def copying(self, texts: list[str]) -> Copying:
        """The shares of the texts' n-grams found in the training text, and the longest copied passage."""
        vocab = self.corpus.vocab
        counts = {n: [0, 0] for n in SIZES}
        best: tuple[int, str] = (0, "")
        for text in texts:
            ids = vocab.encode(text)
            found = self.index.found(ids)
            for n, hits in found.items():
                counts[n][0] += int(hits.sum())
                counts[n][1] += len(hits)
            length, start = _longest_run(found)
            if length > best[0]:
                best = (length, text[start : start + length])
        shares = {n: (hit / total if total else 0.0) for n, (hit, total) in counts.items()}
        return Copying(shares, self._locate(best[1]) if best[0] else None)

    def _locate(self, passage: str) -> Passage:
        """The passage as found in the training text: if its n-grams occur but not together, the
        longest beginning of it that does."""
        vocab, ids = self.corpus.vocab, self.ids
        if self._bytes is None:
            self._bytes = np.ascontiguousarray(ids).tobytes()
        size = ids.dtype.itemsize
        lo, hi, at = SIZES[0], len(passage), -1
        while lo <= hi:  # binary search on the length of the beginning that occurs
            mid = (lo + hi) // 2
            offset = _find(self._bytes, vocab.encode(passage[:mid]).astype(ids.dtype).tobytes(), size)
            if offset >= 0:
                lo, at, found_len = mid + 1, offset, mid
            else:
                hi = mid - 1
        if at < 0:
            return Passage(passage[: SIZES[0]], "the training text")
        return Passage(passage[:found_len], self._where(at // size))

    def _where(self, offset: int) -> str:
        newline = self.corpus.vocab.encode("\n")[0] if "\n" in self.corpus.vocab else None
        line = int(np.count_nonzero(self.ids[:offset] == newline)) + 1 if newline is not None else 1
        sources = self.corpus.sources
        name = Path(sources[0]).name if len(sources) == 1 else f"the {len(sources)} files of the corpus"
        return f"line {line:,} of {name}"


def _find(haystack: bytes, needle: bytes, itemsize: int) -> int:
    """Byte offset of `needle` in `haystack` at a whole character (itemsize bytes each), or -1."""
    at = haystack.find(needle)
    while at >= 0 and at % itemsize:
        at = haystack.find(needle, at + 1)
    return at


def _longest_run(found: dict[int, np.ndarray]) -> tuple[int, int]:
    """(length, start) of the longest stretch covered by found n-grams of one size, for the largest
    size that has any: a run of r consecutive found n-grams covers n + r - 1 characters."""
    for n in sorted(found, reverse=True):
        hits = found[n]
        if hits.any():
            edges = np.diff(np.concatenate([[0], hits.astype(np.int8), [0]]))
            starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
            i = int(np.argmax(ends - starts))
            return n + int(ends[i] - starts[i]) - 1, int(starts[i])
    return 0, 0


def validation_pieces(text: TrainingText, count: int, length: int) -> list[str]:
    """`count` stretches of the held-out text, `length` characters each (fewer if it is short): what
    a model that copies nothing would score, since ordinary phrases recur in any text."""
    ids = text.val_ids
    if len(ids) == 0:
        return []
    step = max(len(ids) // count, 1)
    return [text.corpus.vocab.decode(ids[i : i + length]) for i in range(0, len(ids), step)][:count]


@dataclass(frozen=True)
class NoveltyReport:
    samples: list[str]  # what was generated
    generated: Copying | None = None  # text: how much of it is copied
    validation: Copying | None = None  # the held-out text's figures, the baseline
    items: dict[str, int] | None = None  # line mode: the samples in the training set, validation set, new


def measure(checkpoint: Checkpoint, count: int = 10, length: int = 500, temperature: float = DEFAULT_TEMPERATURE,
            seed: int | None = 0) -> NoveltyReport:
    """Generate `count` samples from a checkpoint and tell how much of them its training text holds."""
    from chargen.config import SamplingSettings
    from chargen.generate.sample import generate_items, sampler_for

    sampler = sampler_for(checkpoint, SamplingSettings(temperature), seed=seed, batch_size=count)
    if checkpoint.lines:
        items = generate_items(sampler, max_length=length)
        return NoveltyReport(items, items=ItemSets.of(checkpoint).tally(items))
    samples = ["".join(column) for column in zip(*sampler.stream(length))]
    training = TrainingText(training_corpus(checkpoint), checkpoint.train_config.val_fraction)
    pieces = validation_pieces(training, count, length)
    return NoveltyReport(samples, training.copying(samples), training.copying(pieces) if pieces else None)
