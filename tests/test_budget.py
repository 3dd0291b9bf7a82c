"""Time budgets (chargen.train.budget): minutes become a step count calibrated on the first steps' speed, and a
run stopped early resumes to the count it planned."""

import pytest

from chargen.config import TrainConfig
from chargen.train import budget, loop
from chargen.train.launch import new_trainer, resume_trainer
from chargen.train.reports import Note, Step
from chargen.train.request import RunRequest

from conftest import TINY_MODEL, TINY_TRAIN, run_to_end


@pytest.fixture
def fake_clock(monkeypatch):
    """Each reading of the training loop's clock is 2 ms after the last: timing tests that cannot flake."""
    ticks = iter(range(10**9))
    monkeypatch.setattr(loop, "clock", lambda: next(ticks) * 0.002)


def test_a_minutes_budget_is_calibrated_into_steps(corpus_file, tmp_path, fake_clock):
    trainer = new_trainer(RunRequest([str(corpus_file)], TINY_MODEL, TrainConfig(**{**TINY_TRAIN, "minutes": 0.01, "eval_every": 40}), tmp_path / "run"))
    reports = run_to_end(trainer)
    assert any("minutes is about" in r.message for r in reports if isinstance(r, Note))
    steps = [r for r in reports if isinstance(r, Step)]
    assert steps[-1].total is not None and steps[-1].step >= budget.CALIBRATION_STEPS[1]


def test_a_time_budget_run_resumes_to_its_planned_step_count(corpus_file, tmp_path, fake_clock):
    trainer = new_trainer(RunRequest([str(corpus_file)], TINY_MODEL, TrainConfig(**{**TINY_TRAIN, "minutes": 0.01, "eval_every": 40}), tmp_path / "run"))
    planned = {}

    def stop():
        planned["total"] = trainer.pos.total_steps
        return trainer.pos.total_steps is not None and trainer.pos.step >= trainer.pos.total_steps // 2

    reports = list(trainer.run(stop))
    assert reports[-1].reason == "interrupted"
    resumed = resume_trainer(RunRequest.resuming(tmp_path / "run"))
    assert resumed.minutes is None and resumed.pos.total_steps == planned["total"]
    assert run_to_end(resumed)[-1].step == planned["total"]
