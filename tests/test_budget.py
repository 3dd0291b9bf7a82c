"""Time budgets (chargen.train.budget): minutes become a step count calibrated on the first steps' speed, and a
run stopped early resumes to the count it planned."""

import json

import pytest

from chargen.config import TrainConfig
from chargen.errors import ChargenError
from chargen.train import budget, loop
from chargen.train.launch import new_trainer, resume_trainer
from chargen.train.plans import Pace
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


def simulate(seconds_per_step, minutes: float = 10.0, eval_every: int = 500, eval_s: float = 5.0,
             limit: int | None = None, planned: list | None = None,
             pace: Pace | None = None, kept: list | None = None) -> tuple[int, int, float, list[str]]:
    """A run's budget driven by a made-up machine: `seconds_per_step(training seconds so far)` each step, an
    evaluation of `eval_s` every `eval_every` steps. (steps made, total planned, seconds used, notes);
    `planned` gets (training seconds, total planned) after every step; `kept`, the Pace the run leaves."""
    b = budget.Budget.for_run(minutes, 0.0, 0, eval_every, eval_chars=100_000, chars_per_step=2048, limit=limit,
                              pace=pace)
    step, total, now, trained, notes = 0, None, 0.0, 0.0, []
    while total is None or step < total:
        assert not b.expired(now), f"out of time at step {step} of {total}: the decay was cut short"
        dt = seconds_per_step(trained)
        now, trained, step = now + dt, trained + dt, step + 1
        total, note = b.plan(step, total, now)
        notes += [note] if note else []
        if planned is not None:
            planned.append((trained, total))
        if step % eval_every == 0 or step == total:
            now += eval_s
            b.after_pause(now - eval_s, now)
    if kept is not None and (reached := b.pace_reached(step)):
        kept.append(Pace("plan", "plans.json", *reached))
    return step, total, now, notes


def first_run(machine=lambda t: 0.1, **kwargs) -> Pace:
    """The Pace a run on `machine` leaves for the next run of its plan."""
    kept = []
    simulate(machine, kept=kept, **kwargs)
    return kept[0]


@pytest.mark.parametrize("machine", [
    pytest.param(lambda t: 0.3 if 200 <= t < 320 else 0.1, id="slow for two minutes in the middle"),
    pytest.param(lambda t: 0.3 if t >= 400 else 0.1, id="three times slower for the last part"),
    pytest.param(lambda t: 0.1 if t >= 150 else 0.3, id="a slow start, then fast"),
    pytest.param(lambda t: 0.1 + 0.03 * ((int(t) * 7919) % 5), id="noisy"),
])
def test_the_schedule_follows_the_speed_so_the_time_is_spent_and_the_decay_completed(machine):
    step, total, seconds, _ = simulate(machine)
    assert step == total  # ended at its planned last step, the learning rate at its floor, not cut off by the clock
    assert 0.95 * 600 <= seconds <= 600 + 5  # the budget spent (the last evaluation may end just past it)


def test_a_slow_window_is_planned_for_within_a_minute_of_its_start():
    planned = []
    step, total, _, _ = simulate(lambda t: 0.3 if t >= 400 else 0.1, planned=planned)
    minute_in = next(total for seconds, total in planned if seconds >= 400 + 60)
    assert abs(minute_in / total - 1) < 0.02  # the schedule's end is known early: the decay is not squeezed at the last


def test_a_cap_on_passes_ends_a_budget_sooner_and_says_so():
    step, total, seconds, notes = simulate(lambda t: 0.1, limit=1_000)
    assert step == total == 1_000 and seconds < 200
    assert "the run ends sooner, at step 1,000, after its last pass (--epochs)" in notes[0]
    assert "10 minutes is about 5," in notes[0]  # what the time alone would have made


def test_minutes_with_epochs_is_whichever_ends_first(corpus_file, tmp_path, fake_clock):
    cfg = TrainConfig(**{**TINY_TRAIN, "minutes": 5.0, "epochs": 2.0})
    trainer = new_trainer(RunRequest([str(corpus_file)], TINY_MODEL, cfg, tmp_path / "run"))
    reports = run_to_end(trainer)
    assert reports[-1].step == 2 * trainer.data.steps_per_epoch and reports[-1].reason == "done"
    with pytest.raises(ChargenError, match="give only one of"):
        TrainConfig(steps=5, epochs=1.0)


def test_a_run_of_its_own_re_aims_only_when_its_count_drifts():
    planned = []
    step, total, seconds, notes = simulate(lambda t: 0.1 * (1 + 0.01 * ((int(t) * 7919) % 3 - 1)), planned=planned)
    counts = {total for _, total in planned if total is not None}
    assert len(counts) < step / budget.REAIM_EVERY / 10  # far fewer counts than re-aims: a schedule to keep
    assert step == total and 0.95 * 600 <= seconds <= 600 + 5


def last_steps(pace: Pace) -> int:
    return pace.schedule[-1][1]


@pytest.mark.parametrize("machine", [
    pytest.param(lambda t: 0.1 * 1.02, id="2% slower"),
    pytest.param(lambda t: 0.1 / 1.03, id="3% faster"),
    pytest.param(lambda t: 0.1 * (1 + 0.01 * ((int(t) * 7919) % 3 - 1)), id="wobbling by 1%"),
])
def test_the_last_runs_schedule_is_trained_again_while_the_machine_runs_within_its_spread(machine):
    pace = first_run(lambda t: 0.1 * (1 + 0.01 * ((int(t) * 104729) % 3 - 1)))  # itself re-aimed on the way
    kept = []
    step, total, seconds, notes = simulate(machine, pace=pace, kept=kept)
    assert kept[0].schedule == pace.schedule and len(pace.schedule) > 1  # count for count, step for step
    assert step == total == last_steps(pace)
    assert "trains the schedule of this plan's last run here" in notes[0] and len(notes) == 1
    assert 0.95 * 600 <= seconds and seconds <= 600 * (1 + budget.GRACE)  # spent, and within its grace


@pytest.mark.parametrize("machine, where", [
    pytest.param(lambda t: 0.1 * 1.1, "past the budget", id="10% slower"),
    pytest.param(lambda t: 0.1 / 1.1, "of the budget, sooner than 95%", id="10% faster"),
])
def test_the_last_runs_schedule_is_let_go_early_outside_the_machines_spread(machine, where):
    pace, planned = first_run(), []
    step, total, seconds, notes = simulate(machine, pace=pace, planned=planned)
    assert step == total != last_steps(pace) and 0.95 * 600 <= seconds - 5 and seconds <= 600 + 5  # the budget as ever
    assert next(total for seconds, total in planned if seconds >= 600 / 2) != last_steps(pace)  # its own speed
    assert any(f"the {last_steps(pace):,} steps of this plan's last run here would end" in n and where in n
               for n in notes)


def test_a_slow_window_lets_the_last_runs_schedule_go_and_still_completes_the_decay():
    pace = first_run()
    step, total, seconds, notes = simulate(lambda t: 0.3 if 200 <= t < 320 else 0.1, pace=pace)
    assert step == total < last_steps(pace) and seconds <= 600 + 5  # ended at its planned last step, in time
    assert "trains the schedule" in notes[0] and "re-aimed at" in notes[1] and "model will differ from the last" in notes[1]


def test_a_run_ended_by_a_cap_on_passes_leaves_no_pace_and_outranks_one():
    assert simulate(lambda t: 0.1, limit=1_000, pace=first_run())[:2] == (1_000, 1_000)
    kept = []
    simulate(lambda t: 0.1, limit=1_000, kept=kept)
    assert kept == []


def test_the_same_command_trains_the_steps_of_its_last_run_and_keeps_them_beside_the_plan(corpus_file, tmp_path,
                                                                                            fake_clock, monkeypatch):
    from chargen.train import measure, plans

    monkeypatch.setattr(measure, "measure_speed", lambda *args, **kwargs: 20_000.0)  # the same machine, twice

    def run(name: str) -> tuple[int, list[str]]:
        trainer = new_trainer(RunRequest([str(corpus_file)], TINY_MODEL, {**TINY_TRAIN, "minutes": 0.01}, tmp_path / name))
        reports = run_to_end(trainer)
        return reports[-1].step, [r.message for r in reports if isinstance(r, Note)]

    first, notes = run("one")
    assert not any("last run here" in n for n in notes)
    kept = json.loads((plans.default_cache_dir() / plans.FILE).read_text())
    assert [plan["schedule"][-1][1] for plan in kept.values()] == [first]
    second, notes = run("two")
    assert second == first and any("trains the schedule of this plan's last run here" in n for n in notes)
