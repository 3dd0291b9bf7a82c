"""Training's extra logs (chargen.train.loggers): TensorBoard gets the records metrics.jsonl gets, and a logging
package that is not installed is named with the extra that brings it."""

import json

import pytest

from conftest import chargen


def test_train_logs_to_tensorboard_the_records_of_metrics_jsonl(corpus_file, tmp_path, monkeypatch):
    pytest.importorskip("tensorboard", reason="tensorboard (the tensorboard extra) is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.chdir(tmp_path)
    result = chargen("train", corpus_file, "--steps", 8, "--eval-every", 4, "--hidden-size", 16, "--batch-size", 4,
                     "--seq-len", 16, "--name", "tb", "--log", "tensorboard", "-q", "--sample-length", 0)
    assert result.exit_code == 0, result.output
    events = EventAccumulator(str(tmp_path / "checkpoints" / "tb" / "tensorboard"))
    events.Reload()
    val = [(e.step, e.value) for e in events.Scalars("chargen/val_loss")]
    records = [json.loads(line) for line in (tmp_path / "checkpoints" / "tb" / "metrics.jsonl").read_text().splitlines()]
    assert [s for s, _ in val] == [r["step"] for r in records] == [4, 8]
    assert [v for _, v in val] == pytest.approx([r["val_loss"] for r in records], rel=1e-6)


def test_a_missing_logging_package_is_named(corpus_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(__import__("sys").modules, "wandb", None)
    result = chargen("train", corpus_file, "--steps", 2, "--log", "wandb", "-q")
    assert result.exit_code == 1 and "pip install 'chargen[wandb]'" in result.stderr
