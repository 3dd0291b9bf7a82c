import numpy as np

from chargen.data.shift import SPANS, bigram_costs, spread, validation_shift


def markov_text(transitions: np.ndarray, n: int, seed: int) -> np.ndarray:
    """`n` character ids drawn from a first-order Markov chain."""
    rng = np.random.default_rng(seed)
    cumulative = transitions.cumsum(axis=1)
    ids, state = np.empty(n, dtype=np.int64), 0
    draws = rng.random(n)
    for i in range(n):
        state = min(int(np.searchsorted(cumulative[state], draws[i])), len(cumulative) - 1)
        ids[i] = state
    return ids


def chain(vocab: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    weights = rng.random((vocab, vocab)) ** 8  # a few likely successors per character, like text
    return weights / weights.sum(axis=1, keepdims=True)


def test_a_validation_text_like_the_training_text_has_no_shift_and_an_unlike_one_has():
    vocab = 20
    same = chain(vocab, seed=1)
    train = markov_text(same, 120_000, seed=2)
    assert abs(validation_shift(train, markov_text(same, 13_000, seed=3), vocab)) < 0.05
    shifted = validation_shift(train, markov_text(chain(vocab, seed=4), 13_000, seed=5), vocab)
    assert shifted > 1.0  # another chain's pairs: the bigram model mostly falls back on character frequencies


def test_too_little_text_tells_nothing():
    ids = np.arange(5_000) % 7
    assert bigram_costs(ids, ids[:500], 7) is None and validation_shift(ids, ids[:500], 7) == 0.0


def test_spread_takes_equal_spans_from_start_to_end():
    ids = np.arange(10_000)
    taken = spread(ids, 640)
    assert len(taken) == 640 and taken[0] == 0 and taken[-1] == 9_999
    spans = taken.reshape(SPANS, -1)
    assert (np.diff(spans, axis=1) == 1).all()  # each span contiguous
    gaps = np.diff(spans[:, 0])
    assert gaps.min() >= 150 and gaps.max() - gaps.min() <= 1  # and evenly spaced
    assert spread(ids[:100], 640).tolist() == list(range(100))
