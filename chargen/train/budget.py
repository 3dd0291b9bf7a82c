"""Turn a --minutes budget into the run's step count, so the learning-rate schedule ends when the time does."""

from __future__ import annotations

import math
import os
from collections import deque

from chargen.config import TrainConfig
from chargen.errors import ChargenError
from chargen.store.record import Position
from chargen.train.plans import Pace

CALIBRATION_STEPS = (5, 25)  # the first estimate comes from the speed of these steps
REAIM_EVERY = 10  # then the estimate is renewed every this many steps (arithmetic only: cheap)
RECENT_S = 30.0  # from the speed of about the last this many seconds of training
TIME_SCALE = "CHARGEN_TIME_SCALE"  # multiplies every --minutes alike: README's tour test runs in seconds
# A run re-aimed at its own speed ends a few steps from the last run of the same command, the learning rate
# differs in every step, and the models end about as far apart as two seeds' (python-code at 2.5 minutes:
# 4,211 to 4,279 steps, 0.027 nats). So a run trains the schedule the last run of its plan trained (its Pace:
# each count it aimed at, from the step it was set) while, at the speed of the last RECENT_S seconds, the
# run would end, its last evaluation done, between LEAST_USED of the budget and GRACE past it: a band about
# where a run aimed at the time ends, as wide as this machine's run-to-run spread (1-3% on the 2-core CPU).
LEAST_USED = 0.95
GRACE = 0.02
# A speed this far off for the time left may yet come back (a 30-second window is noisy): the band is wider
# by it times the share of the budget left, and narrows to itself as the run nears its end.
FORGIVEN = 0.05
# A run of its own re-aims when its count is this share off the one the time gives: a schedule of a few
# counts, which the next run can train again, and an end within about this share of the time.
DRIFT = 0.005


def scaled_minutes(minutes: float) -> float:
    """A budget as the run takes it: `minutes` times CHARGEN_TIME_SCALE where that is set."""
    value = os.environ.get(TIME_SCALE)
    if value is None:
        return minutes
    try:
        scale = float(value)
    except ValueError:
        scale = -1.0
    if not 0 < scale < float("inf"):
        raise ChargenError(f"{TIME_SCALE}={value!r} must be a positive number (it multiplies every --minutes)")
    return minutes * scale


class Budget:
    """The step at which a wall-clock budget runs out, re-aimed as the speed drifts.

    The speed of a few early steps gives the first estimate; every REAIM_EVERY steps it is renewed from
    the speed of the last RECENT_S seconds and the measured cost of evaluating, and the count is re-aimed
    when it has drifted DRIFT from it. A shared machine's speed drifts, up to 2x from one run to the next on
    this project's 2-core CPU: planned from the recent speed, a slow window shortens the schedule while it
    lasts, so the learning rate's decay still ends with the time, and a fast one lengthens it, so the time
    is spent. `pace` is the schedule the last run of the same plan trained on this machine
    (chargen.train.plans): trained again, count for count at the same steps, while the run would end within
    the band LEAST_USED..GRACE at the speed measured, so that the same command trains the same model; once
    outside it, the run plans for itself. `schedule` is what this run trained, for the next. `limit` caps
    the run at a step (--epochs with --minutes: whichever ends first). Times are whatever clock the caller
    reads; the budget never reads one itself.
    """

    def __init__(self, minutes: float, now: float, step: int, eval_every: int, eval_cost_in_steps: float,
                 chars_per_step: int, limit: int | None = None, pace: Pace | None = None) -> None:
        self.minutes = minutes
        self.start, self.deadline = now, now + minutes * 60
        self.start_step = step
        self.eval_every = eval_every
        # Before an evaluation has been timed: its cost guessed as this many training steps.
        self.eval_cost_in_steps = eval_cost_in_steps
        self.chars_per_step = chars_per_step
        self.limit = limit
        kept = (pace is not None and pace.schedule is not None
                and (limit is None or pace.schedule[-1][1] < limit) and pace.schedule[0][0] > step)
        self.replay = list(pace.schedule) if kept else None
        # Until this run times an evaluation: the seconds one took in the run the schedule is kept from.
        self.kept_pause_s = pace.pause_s if kept else None
        self.schedule: list[tuple[int, int]] = []  # (step, total) at each count set
        self.paused_s, self.pauses = 0.0, 0
        self._marks: deque[tuple[int, float]] = deque()  # (step, training seconds so far) at each re-aim

    @classmethod
    def for_run(cls, minutes: float, now: float, step: int, eval_every: int, eval_chars: int,
                chars_per_step: int, limit: int | None = None, pace: Pace | None = None) -> Budget:
        """A run's budget; until an evaluation is timed, it is guessed as a forward pass over what it reads,
        about 0.4 of a training step's work per character."""
        return cls(minutes, now, step, eval_every, 0.4 * (eval_chars / chars_per_step), chars_per_step, limit, pace)

    def expired(self, now: float) -> bool:
        return now >= self.deadline + GRACE * self.minutes * 60

    def pace_reached(self, step: int) -> tuple[list[tuple[int, int]], float | None] | None:
        """What the next run of this plan is to train again of a run that ended its schedule at `step`: the
        schedule and an evaluation's seconds; None where a cap on passes, not the time, ended it."""
        if (self.limit is not None and step >= self.limit) or not self.schedule:
            return None
        return self.schedule, (self.paused_s / self.pauses if self.pauses else None)

    def plan(self, step: int, total: int | None, now: float) -> tuple[int | None, str | None]:
        """After `step` steps: the (possibly new) total step count, and a note when it is first set or the
        last run's schedule is let go."""
        planned, note = self._plan(step, total, now)
        if planned is not None and planned != total:
            self.schedule.append((step, planned))
        return planned, note

    def _plan(self, step: int, total: int | None, now: float) -> tuple[int | None, str | None]:
        done, trained_s = step - self.start_step, now - self.start - self.paused_s
        if total is None:
            if self.limit is not None and step >= self.limit:  # a cap reached before the speed was measured
                return self.limit, f"the run ends at step {self.limit:,}, its last pass, before the {self.minutes:g} minutes"
            if done == CALIBRATION_STEPS[0]:
                self._marks.append((step, trained_s))
            elif done >= CALIBRATION_STEPS[1] and self._marks:
                mark_step, mark_s = self._marks[0]
                per_step = (trained_s - mark_s) / (step - mark_step)
                total = self._aim(step, per_step, now)
                note = (f"measured {self.chars_per_step / per_step:,.0f} chars/s: {self.minutes:g} minutes is about "
                        f"{self._aim(step, per_step, now, capped=False) - self.start_step:,} steps")
                if total == self.limit:
                    return total, note + f"; the run ends sooner, at step {total:,}, after its last pass (--epochs)"
                if self.replay is not None:
                    last, ends = self.replay[-1][1], self._ends(self.replay[-1][1], step, per_step, now)
                    if self.replay[0][0] == step and self._fits(ends, now):
                        return self.replay[0][1], (
                            f"{note}; trains the schedule of this plan's last run here ({last:,} steps), which ends at "
                            f"{ends:.0%} of the budget at this speed, so that the same command trains the same model")
                    self.replay = None
                    note += f"; the {last:,} steps of this plan's last run here would end {self._where(ends)}"
                return total, note
        elif done % REAIM_EVERY == 0 and step < total:
            while self._marks and self._marks[-1][0] >= step:  # a rollback: marks past where the run now is
                self._marks.pop()
            self._marks.append((step, trained_s))
            while len(self._marks) > 2 and trained_s - self._marks[1][1] >= RECENT_S:
                self._marks.popleft()  # keep the latest mark at least RECENT_S old, and those since
            mark_step, mark_s = self._marks[0]
            if step > mark_step:
                per_step = (trained_s - mark_s) / (step - mark_step)
                aimed = self._aim(step, per_step, now)
                if self.replay is not None:
                    last = self.replay[-1][1]
                    ends = self._ends(last, step, per_step, now)
                    if self._fits(ends, now):
                        return next(t for s, t in reversed(self.replay) if s <= step), None
                    self.replay = None
                    return aimed, (f"step {step:,}: at the speed of the last {RECENT_S:g} s, the {last:,} steps of this "
                                   f"plan's last run here would end {self._where(ends)}: re-aimed at {aimed:,}, so this "
                                   "run's model will differ from the last")
                if abs(aimed - total) > DRIFT * total:
                    return aimed, None
        return total, None

    def _ends(self, total: int, step: int, seconds_per_step: float, now: float) -> float:
        """When a run of `total` steps would end, its last evaluation done, as a share of the budget."""
        eval_s, _ = self._costs(seconds_per_step)
        # Those due from this step (its own comes after this plan) to the last, which comes after the training.
        evals = max((total - 1) // self.eval_every - (step - 1) // self.eval_every, 0) + 1
        return (now + max(total - step, 0) * seconds_per_step + evals * eval_s - self.start) / (self.minutes * 60)

    def _fits(self, ends: float, now: float) -> bool:
        slack = FORGIVEN * max(self.deadline - now, 0.0) / (self.minutes * 60)
        return LEAST_USED - slack <= ends <= 1 + GRACE + slack

    @staticmethod
    def _where(ends: float) -> str:
        return "past the budget" if ends > 1 else f"at {ends:.0%} of the budget, sooner than {LEAST_USED:.0%}"

    def after_pause(self, paused_at: float, resumed_at: float) -> None:
        """Count the time an evaluation and save took: it is not training time, and it will recur."""
        self.paused_s += resumed_at - paused_at
        self.pauses += 1

    def _costs(self, seconds_per_step: float) -> tuple[float, float]:
        """(seconds an evaluation takes, seconds a step takes with its share of the evaluations)."""
        if self.pauses:
            eval_s = self.paused_s / self.pauses
        elif self.kept_pause_s is not None:
            eval_s = self.kept_pause_s
        else:
            eval_s = self.eval_cost_in_steps * seconds_per_step
        return eval_s, seconds_per_step + eval_s / self.eval_every

    def _aim(self, step: int, seconds_per_step: float, now: float, capped: bool = True) -> int:
        """The step at which the budget runs out, counting the evaluations on the way (and the cap)."""
        eval_s, per_step = self._costs(seconds_per_step)
        steps_left = max(1, int(0.98 * (self.deadline - now - eval_s) / per_step))
        if capped and self.limit is not None:
            return min(step + steps_left, self.limit)
        return step + steps_left


def run_length(cfg: TrainConfig, pos: Position, steps_per_epoch: int, resumed: bool,
               minutes_extra: float | None = None) -> tuple[float | None, int | None]:
    """(minutes, total steps) of a run: a time budget still to be turned into steps, or a step count.

    On resume, --minutes (`minutes_extra`) is that much more time, re-planned; a budget already turned
    into steps is finished exactly; a run stopped before its budget was planned gets the time left.
    """
    minutes, total = cfg.minutes, pos.total_steps
    if resumed:
        if minutes_extra is not None:
            minutes, total = minutes_extra, None
        elif total is not None:
            minutes = None
        elif minutes is not None:
            minutes = max(minutes - pos.elapsed_s / 60, 0.1)
    if total is None and minutes is None:
        if cfg.steps is not None:
            total = cfg.steps
        else:
            assert cfg.epochs is not None, "launch gives every run a length"
            total = max(1, math.ceil(cfg.epochs * steps_per_epoch))
    return minutes, total
