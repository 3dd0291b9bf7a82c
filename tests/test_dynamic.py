"""Dynamic evaluation and adaptation (chargen.train.dynamic): a copy of the model scores each segment before
learning from it, its learning rate is chosen on the training text, never on the text scored, and the
copy never reaches the run's files; `eval --dynamic`, `sample --adapt` and the REPL's :adapt."""

import hashlib
import json

import numpy as np
import pytest
import torch

from chargen.data.streams import eval_windows
from chargen.model.charrnn import CharRNN
from chargen.store.weights import read_model
from chargen.train import dynamic
from chargen.train.loss import loss_sum

from conftest import TEXT, chargen

PATTERN = "resolved rather famish " * 250  # known characters in an order the trained text never has


def model_and_ids(trained_run, text: str):
    saved = read_model(trained_run.path / "best.safetensors")
    return saved, saved.vocab.encode(text)


def test_a_copy_that_does_not_learn_scores_as_the_model_does(trained_run):
    saved, ids = model_and_ids(trained_run, TEXT[:1200])
    rms = dynamic.gradient_rms(saved.model_config, saved.weights, ids[:500], torch.device("cpu"))
    still = dynamic.LearningCopy(saved.model_config, saved.weights, rms, dynamic.Adaptation(0.0, 0.0), torch.device("cpu"))
    total, count = loss_sum(CharRNN.trained(saved.model_config, saved.weights), eval_windows(ids, 1, 1024),
                            torch.device("cpu"), carry_state=True)
    reading = still.read(ids)
    assert reading.chars == count and reading.loss == pytest.approx(total / count, rel=1e-5)


def test_each_segment_is_scored_before_it_is_learned_from(trained_run):
    saved, ids = model_and_ids(trained_run, PATTERN[: dynamic.SEGMENT + 1])  # one segment
    rms = dynamic.gradient_rms(saved.model_config, saved.weights, ids, torch.device("cpu"))
    static = dynamic.LearningCopy(saved.model_config, saved.weights, rms, dynamic.Adaptation(0.0, 0.0), torch.device("cpu"))
    learning = dynamic.LearningCopy(saved.model_config, saved.weights, rms, dynamic.Adaptation(1e-2, 0.0), torch.device("cpu"))
    assert learning.read(ids).nats == pytest.approx(static.read(ids).nats, rel=1e-6)  # no peeking at the answer
    again = learning.read(ids)
    assert again.loss < static.read(ids).loss  # but it learned from it


def test_a_copy_that_learns_predicts_a_new_text_better_the_further_it_reads(trained_run):
    saved, ids = model_and_ids(trained_run, PATTERN)
    rms = dynamic.gradient_rms(saved.model_config, saved.weights, ids[:500], torch.device("cpu"))
    learning = dynamic.LearningCopy(saved.model_config, saved.weights, rms, dynamic.Adaptation(1e-3, 0.0), torch.device("cpu"))
    first, later = learning.read(ids[:1000]), learning.read(ids[1000:3000])
    static = dynamic.LearningCopy(saved.model_config, saved.weights, rms, dynamic.Adaptation(0.0, 0.0), torch.device("cpu"))
    assert later.loss < 0.8 * static.read(ids[1000:3000]).loss and later.loss < first.loss
    home = read_model(trained_run.path / "best.safetensors").weights  # the trained weights are untouched
    assert all(np.array_equal(np.asarray(home[k]), np.asarray(saved.weights[k])) for k in home)


def test_the_decay_pulls_the_copy_back_towards_the_trained_weights(trained_run):
    saved, ids = model_and_ids(trained_run, PATTERN[:3000])
    rms = dynamic.gradient_rms(saved.model_config, saved.weights, ids[:500], torch.device("cpu"))

    def distance(decay: float) -> float:
        copy = dynamic.LearningCopy(saved.model_config, saved.weights, rms, dynamic.Adaptation(1e-3, decay), torch.device("cpu"))
        copy.read(ids)
        moved = copy.weights()
        return sum(float((moved[k] - torch.as_tensor(np.asarray(saved.weights[k]))).square().sum()) for k in moved)

    assert distance(0.05) < 0.8 * distance(0.01) < 0.8 * distance(0.0)


def digests(run) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.iterdir() if p.is_file()}


def test_eval_dynamic_gives_both_figures_its_choice_made_on_the_training_text(trained_run, tmp_path):
    before = digests(trained_run.path)
    text = tmp_path / "new.txt"
    text.write_text(PATTERN[:2000], encoding="utf-8")
    result = chargen("eval", "-c", trained_run.path, text, "--dynamic")
    assert result.exit_code == 0, result.output
    line = result.stdout.splitlines()[-1]
    assert line.startswith("dynamic evaluation: ") and "nats/char below the static" in line and "s per MB" in line
    record = json.loads(chargen("eval", "-c", trained_run.path, text, "--dynamic", "--json").stdout)
    d = record["dynamic"]
    assert d["static_loss_nats"] == record["loss_nats"] and d["loss_nats"] < record["loss_nats"]
    assert len(d["grid"]) == 1 + len(dynamic.LEARNING_RATES) * len(dynamic.DECAYS) and d["tuned_on_chars"] > 0
    other = tmp_path / "other.txt"
    other.write_text(TEXT[:2000], encoding="utf-8")
    chosen = json.loads(chargen("eval", "-c", trained_run.path, other, "--dynamic", "--json").stdout)["dynamic"]
    assert (chosen["lr"], chosen["decay"], chosen["grid"]) == (d["lr"], d["decay"], d["grid"])  # not fitted to the text
    assert digests(trained_run.path) == before


def test_sample_adapt_continues_a_text_in_its_own_manner_and_leaves_the_run_alone(trained_run, tmp_path):
    before = digests(trained_run.path)
    page = tmp_path / "page.txt"
    page.write_text(PATTERN[:2300], encoding="utf-8")
    plain = chargen("sample", "-c", trained_run.path, "-t", "0", "-l", "60", "--prime", "resolved rather ")
    adapted = chargen("sample", "-c", trained_run.path, "-t", "0", "-l", "60", "--adapt", page)
    assert adapted.exit_code == 0, adapted.output
    assert "adapted a copy of the model to" in adapted.stderr and "the checkpoint is unchanged" in adapted.stderr
    expected = (PATTERN * 2)[2300 % 23:][:60]  # how the page goes on
    same = lambda text: sum(a == b for a, b in zip(text, expected))  # noqa: E731
    assert same(adapted.stdout[:60]) >= 50 and same(adapted.stdout[:60]) > same(plain.stdout[len("resolved rather "):][:60])
    assert digests(trained_run.path) == before


def test_the_repl_adapts_to_a_file_and_goes_back(trained_run, tmp_path):
    page = tmp_path / "page.txt"
    page.write_text(PATTERN[:2300], encoding="utf-8")
    result = chargen("repl", "-c", trained_run.path, "-t", "0", "-l", "40", input=f":adapt {page}\n:adapt off\nAll\n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and "rather famish" in lines[0]  # the page's way of going on
    assert "adapted a copy of the model to" in result.stderr and "back to the model as trained" in result.stderr


@pytest.mark.parametrize("content, message", [
    ("", "has 0 characters: there is no text to adapt to"),
    ("€uro", "has characters the model never saw"),
])
def test_an_adapt_file_it_cannot_use_is_one_line(trained_run, tmp_path, content, message):
    page = tmp_path / "page.txt"
    page.write_text(content, encoding="utf-8")
    result = chargen("sample", "-c", trained_run.path, "--adapt", page)
    assert result.exit_code == 1 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_line_mode_models_are_neither_adapted_nor_evaluated_dynamically(trained_line_run, tmp_path):
    text = tmp_path / "names.txt"
    text.write_text("emma\nava\n", encoding="utf-8")
    for args in (["sample", "--adapt", text], ["eval", text, "--dynamic"]):
        result = chargen(*args[:1], "-c", trained_line_run.path, *args[1:])
        assert result.exit_code == 1 and "line-mode model" in result.stderr, result.output
