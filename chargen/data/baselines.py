"""What a loss means: the same text's bits per character under the standard compressors and under
counting models of the training text, beside which a model's figure says something.

    compressors   xz (lzma, its default preset 6), bz2 (level 9) and zstd (level 19, where the zstandard
                  package is installed): 8 x compressed bytes / characters of the text alone, so they
                  pay for learning the text as they read it, as a model does not
    order-k       character models of the training text, k = 0, 1, 2 previous characters, add-one
                  (Laplace) smoothed over the vocabulary, so no character costs infinity: from the k-th
                  character of the scored text on, P(x | c) = (n(c x) + 1) / (n(c) + V)

A model that knows its text beats all of them; an untrained one loses to order-0.
"""

from __future__ import annotations

import bz2
import lzma
import math

import numpy as np

ORDERS = (0, 1, 2)


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
        out[f"order{order}"] = None if train_ids is None else ngram_bits(train_ids, text_ids, vocab_size, order)
    return out
