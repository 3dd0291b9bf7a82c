"""What a loss means: the same text's bits per character under the standard compressors and under
counting models of the training text, beside which a model's figure says something.

    compressors   xz (lzma, its default preset 6), bz2 (level 9) and zstd (level 19, where the zstandard
                  package is installed): 8 x compressed bytes / characters of the text alone, so they
                  pay for learning the text as they read it, as a model does not
    order-k       character models of the training text, k = 0, 1, 2 previous characters, add-one
                  (Laplace) smoothed over the vocabulary, so no character costs infinity: from the k-th
                  character of the scored text on, P(x | c) = (n(c x) + 1) / (n(c) + V)

A model that knows its text beats all of them; an untrained one loses to order-0. A text's baselines are
cached beside the corpus cache (CACHE_FORMAT), so that `info`, the end of `train` and the report can
always show them: xz over tens of MB takes seconds, once.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import lzma
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from chargen.data.corpus import Corpus, default_cache_dir
from chargen.data.vocab import Vocab

ORDERS = (0, 1, 2)
CACHE_FORMAT = 1


def compressor_bits(text: str) -> dict[str, float]:
    """Bits per character of `text` under each compressor available."""
    if not text:
        return {}
    data = text.encode("utf-8")
    sizes = {"xz": len(lzma.compress(data, preset=6)), "bz2": len(bz2.compress(data, 9))}
    try:
        import zstandard
    except ImportError:
        pass
    else:
        sizes["zstd"] = len(zstandard.ZstdCompressor(level=19).compress(data))
    return {name: 8 * size / len(text) for name, size in sizes.items()}


def _keys(ids: np.ndarray, order: int, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(context keys, context-and-next keys) for every position from `order` on, as base-V numbers."""
    ids = np.asarray(ids, dtype=np.int64)
    context = np.zeros(len(ids) - order, np.int64)
    for back in range(order, 0, -1):
        context = context * vocab_size + ids[order - back : len(ids) - back]
    return context, context * vocab_size + ids[order:]


def _counts(keys: np.ndarray, asked: np.ndarray) -> np.ndarray:
    """How often each of `asked` occurs in `keys`."""
    found, counts = np.unique(keys, return_counts=True)
    at = np.minimum(np.searchsorted(found, asked), len(found) - 1)
    return np.where(found[at] == asked, counts[at], 0)


def ngram_bits(train_ids: np.ndarray, test_ids: np.ndarray, vocab_size: int, order: int) -> float:
    """Bits per character of `test_ids` (from its `order`-th on) under an add-one order-`order` model of `train_ids`."""
    if len(test_ids) <= order or len(train_ids) <= order:
        return math.nan
    train_context, train_pairs = _keys(train_ids, order, vocab_size)
    test_context, test_pairs = _keys(test_ids, order, vocab_size)
    if order == 0:
        joint, context = _counts(train_pairs, test_pairs), np.full(len(test_pairs), len(train_pairs))
    else:
        joint, context = _counts(train_pairs, test_pairs), _counts(train_context, test_context)
    probabilities = (joint + 1.0) / (context + vocab_size)
    return float(-np.log2(probabilities).mean())


def baselines(text_ids: np.ndarray, text: str, vocab_size: int, train_ids: np.ndarray | None) -> dict[str, float | None]:
    """Every baseline of one scored text: the compressors', and the order-k models' where the training text is known."""
    out: dict[str, float | None] = dict(compressor_bits(text))
    for order in ORDERS:
        bits = None if train_ids is None else ngram_bits(train_ids, text_ids, vocab_size, order)
        out[f"order{order}"] = None if bits is None or math.isnan(bits) else bits  # None: JSON has no NaN
    return out


def cached_baselines(text_ids: np.ndarray, vocab: Vocab, training: Callable[[], np.ndarray | None], key: str,
                     cache_dir: Path | None = None) -> dict[str, float | None]:
    """`baselines` of the text `text_ids`, the order-k models counted on `training()` (read only when the
    cache does not hold them yet), computed once for `key` (which must name the text and the training text)
    and then read from the cache."""
    digest = hashlib.sha256(f"{key}|{vocab.chars}".encode()).hexdigest()[:32]
    path = (cache_dir or default_cache_dir()) / f"{digest}.baselines-v{CACHE_FORMAT}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    train_ids = training()
    found = baselines(text_ids, vocab.decode(text_ids), vocab.size, train_ids)
    if train_ids is None:  # not kept: the training text may be back next time
        return found
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(found), encoding="utf-8")  # a cache: a torn write is read as missing
    except OSError:
        pass
    return found


def validation_baselines(corpus: Corpus, val_fraction: float) -> dict[str, float | None] | None:
    """The baselines of a corpus's validation text (its last `val_fraction`), the order-k models counted on the
    rest; None where there is no validation text."""
    train_ids, val_ids = corpus.split(val_fraction)
    if len(val_ids) < 2:
        return None
    return cached_baselines(val_ids, corpus.vocab, lambda: train_ids, f"{corpus.sha256}|val {val_fraction!r}")


def fewer_bits_than_xz(bpc: float, found: dict[str, float | None]) -> float | None:
    """The share of xz's bits/char that the model saves (negative: it spends more)."""
    return 1 - bpc / found["xz"] if found.get("xz") else None


def summary(bpc: float, found: dict[str, float | None]) -> str:
    """One line: the baselines in bits/char, then how the model's `bpc` compares with xz."""
    shown = " · ".join(f"{name.replace('order', 'order-')} {value:.3f}" for name, value in found.items()
                       if value is not None)
    saving = fewer_bits_than_xz(bpc, found)
    than = "" if saving is None else (f"; the model uses {abs(saving):.0%} {'fewer' if saving >= 0 else 'more'} "
                                      "bits than xz")
    return f"the same text in bits/char: {shown}{than}"
