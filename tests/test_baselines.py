"""The baselines beside a model's figure: counting models checked against counting by hand, compressors,
and `chargen eval` showing them."""

import collections
import json
import math

import numpy as np
import pytest

from chargen.data.baselines import compressor_bits, ngram_bits

from conftest import TEXT, chargen


def by_hand(train: list[int], test: list[int], vocab_size: int, order: int) -> float:
    """Add-one order-k bits/char, counted with dictionaries."""
    grams = collections.Counter(tuple(train[i - order:i + 1]) for i in range(order, len(train)))
    contexts = collections.Counter(tuple(train[i - order:i]) for i in range(order, len(train)))
    costs = [-math.log2((grams[tuple(test[i - order:i + 1])] + 1) / (contexts[tuple(test[i - order:i])] + vocab_size))
             for i in range(order, len(test))]
    return sum(costs) / len(costs)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_counting_models_are_what_counting_by_hand_gives(order):
    rng = np.random.default_rng(order)
    train, test = rng.integers(0, 7, 3000), np.concatenate([rng.integers(0, 7, 500), [6, 6, 6]])
    assert ngram_bits(train, test, 7, order) == pytest.approx(by_hand(train.tolist(), test.tolist(), 7, order), rel=1e-12)


def test_more_context_predicts_a_structured_text_better_and_never_costs_infinity():
    ids = np.frombuffer(TEXT.encode("ascii"), np.uint8).astype(np.int64)
    bits = [ngram_bits(ids[:1500], ids[1500:], 128, order) for order in (0, 1, 2)]
    assert bits[0] > bits[1] > bits[2] > 0
    assert math.isfinite(ngram_bits(ids[:100], np.array([127, 127, 127]), 128, 2))  # never seen: still finite


def test_compressors_find_a_repeated_text_cheap():
    bits = compressor_bits(TEXT * 20)
    assert {"xz", "bz2"} <= set(bits) and all(0 < b < 1 for b in bits.values())
    assert compressor_bits("") == {}


def test_eval_shows_the_baselines_beside_the_models_figure(trained_run, tmp_path):
    text = tmp_path / "held-out.txt"
    text.write_text(TEXT[:600], encoding="utf-8")
    result = chargen("eval", "-c", trained_run.path, text)
    assert result.exit_code == 0, result.output
    line = result.stdout.splitlines()[1]
    assert line.startswith("the same text in bits/char: xz ") and "order-2 " in line and "bits than xz" in line
    record = json.loads(chargen("eval", "-c", trained_run.path, text, "--json").stdout)
    assert set(record["baselines_bpc"]) >= {"xz", "bz2", "order0", "order1", "order2"}
    assert record["fewer_bits_than_xz"] == pytest.approx(1 - record["bpc"] / record["baselines_bpc"]["xz"])


def test_without_the_training_text_the_counting_models_are_left_out(trained_run, tmp_path):
    run = trained_run.copy_to(tmp_path)
    from chargen.store.weights import read_weights, write_weights

    saved = read_weights(run / "best.safetensors")
    saved.corpus.sources = [str(tmp_path / "gone.txt")]
    write_weights(run / "best.safetensors", saved)
    text = tmp_path / "held-out.txt"
    text.write_text(TEXT[:300], encoding="utf-8")
    record = json.loads(chargen("eval", "-c", run / "best.safetensors", text, "--json").stdout)
    assert record["baselines_bpc"]["order2"] is None and record["baselines_bpc"]["xz"] > 0
