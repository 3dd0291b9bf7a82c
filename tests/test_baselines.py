"""The baselines beside a model's figure: counting models checked against counting by hand, compressors,
and `chargen eval` showing them."""

import collections
import json
import math

import numpy as np
import pytest

from chargen.data.baselines import compressor_bits, ngram_bits

from conftest import TEXT, TINY_FLAGS, chargen


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


def test_info_gives_the_validation_texts_baselines_beside_the_best_loss(trained_run):
    result = chargen("info", "-c", trained_run.path)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith("baselines"))
    assert "the same text in bits/char: xz " in line and "order-2 " in line and "bits than xz" in line
    record = json.loads(chargen("info", "-c", trained_run.path, "--json").stdout)
    assert {"xz", "bz2", "order0", "order1", "order2"} <= set(record["val_baselines_bpc"])
    assert record["fewer_bits_than_xz"] == pytest.approx(1 - record["best_val_bpc"] / record["val_baselines_bpc"]["xz"])


def test_a_texts_baselines_are_computed_once_then_read_from_the_cache(corpus_file, monkeypatch):
    from chargen.data import baselines
    from chargen.data.corpus import load_corpus

    corpus = load_corpus([corpus_file])
    first = baselines.validation_baselines(corpus, 0.1)

    def counted_again(*args):
        raise AssertionError("computed again")

    monkeypatch.setattr(baselines, "baselines", counted_again)
    assert baselines.validation_baselines(corpus, 0.1) == first
    with pytest.raises(AssertionError, match="computed again"):
        baselines.validation_baselines(corpus, 0.2)  # another validation text: its own entry


def test_training_ends_with_the_baselines_and_the_report_opens_with_them(corpus_file, tmp_path):
    result = chargen("train", corpus_file, *TINY_FLAGS, "--steps", 8, "--checkpoint-dir", tmp_path, "--name", "run",
                     "--sample-length", 0)
    assert result.exit_code == 0, result.output
    line = result.stderr.splitlines()[-1]
    assert line.startswith("the same text in bits/char: xz ") and "bits than xz" in line
    report = tmp_path / "report.html"
    assert chargen("report", "-c", tmp_path / "run", "-o", report).exit_code == 0
    assert "The same text in bits/char: xz " in report.read_text(encoding="utf-8")


def test_info_without_the_training_text_says_the_rest_and_leaves_the_baselines_out(trained_run, tmp_path):
    run = trained_run.copy_to(tmp_path)
    from chargen.store.weights import read_weights, write_weights

    saved = read_weights(run / "best.safetensors")
    saved.corpus.sources = [str(tmp_path / "gone.txt")]
    write_weights(run / "best.safetensors", saved)
    result = chargen("info", "-c", run / "best.safetensors")
    assert result.exit_code == 0 and "best val bpc" in result.stdout and "baselines" not in result.stdout
