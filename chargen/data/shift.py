"""How unlike its training text a run's validation text is: the shift that dropout helps a model across.

A character-bigram model fitted on the training text, less its end, predicts that end and the
validation text; how many more nats per character the validation text costs it is the shift. On the
quality benchmark's corpora (`python -m bench.shift`) it is +0.32 for python-code, whose validation
text is a package unlike those before it, and between -0.05 and +0.10 for the others, where the end of
the text is like the rest (prose, verse, C++ headers, Cantonese). Only python-code gained from dropout
while reading its text less than once (0.041 nats at 2.5 minutes); the others lost 0.01 to 0.10. The
shift does not always mean dropout pays: a novel after speeches (+0.29, bench/corpora.py
novel-after-speeches) lost 0.011 with it.
"""

from __future__ import annotations

import numpy as np

MODEL_CHARS = 4_000_000  # at most this much training text fits the bigram model (spans spread over it)
TEST_CHARS = 500_000  # and at most this much of each side is predicted: the shift costs about a second
SPANS = 64
MIN_CHARS = 10_000  # below this the bigram estimates are too sparse to tell a shift from noise
UNIGRAM_SHARE = 0.2  # of each prediction, for the pairs the model never saw


def spread(ids: np.ndarray, total: int, spans: int = SPANS) -> np.ndarray:
    """`ids` if it holds at most `total`, else `spans` equal spans evenly spread over it, joined."""
    if len(ids) <= total:
        return np.asarray(ids)
    width = total // spans
    starts = np.linspace(0, len(ids) - width, spans).astype(np.int64)
    return np.concatenate([ids[s:s + width] for s in starts])


def bigram_cross_entropy(model_ids: np.ndarray, test_ids: np.ndarray, vocab_size: int) -> float:
    """Nats per character of `test_ids` under a bigram model of `model_ids`, interpolated with its
    add-one unigram model so that no pair costs infinity."""
    unigram = np.bincount(model_ids, minlength=vocab_size).astype(np.float64) + 1.0
    unigram /= unigram.sum()
    pairs, counts = np.unique(model_ids[:-1].astype(np.int64) * vocab_size + model_ids[1:], return_counts=True)
    contexts = np.bincount(model_ids[:-1], minlength=vocab_size).astype(np.float64)
    asked = test_ids[:-1].astype(np.int64) * vocab_size + test_ids[1:]
    at = np.minimum(np.searchsorted(pairs, asked), len(pairs) - 1)
    seen = np.where(pairs[at] == asked, counts[at], 0)
    before = contexts[test_ids[:-1]]
    bigram = np.divide(seen, before, out=np.zeros_like(before), where=before > 0)
    p = (1 - UNIGRAM_SHARE) * bigram + UNIGRAM_SHARE * unigram[test_ids[1:]]
    return float(-np.log(p).mean())


def bigram_costs(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int) -> tuple[float, float] | None:
    """(the training text's end, the validation text): nats per character of each for a bigram model
    of the rest of the training text, the end as long as the validation text and at most a ninth of
    the training text; None where either is too short to tell."""
    end = min(len(val_ids), len(train_ids) // 9)
    if end < MIN_CHARS:
        return None
    cut = len(train_ids) - end
    model = spread(train_ids[:cut], MODEL_CHARS)
    return (bigram_cross_entropy(model, spread(train_ids[cut:], TEST_CHARS), vocab_size),
            bigram_cross_entropy(model, spread(val_ids, TEST_CHARS), vocab_size))


def validation_shift(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int) -> float:
    """Nats per character by which the validation text is harder than the training text's end
    (`bigram_costs`); 0 where the texts are too short to tell."""
    costs = bigram_costs(train_ids, val_ids, vocab_size)
    return 0.0 if costs is None else costs[1] - costs[0]
