"""Turn a --minutes budget into the run's step count, so the learning-rate schedule ends when the time does."""

from __future__ import annotations

import math
import os

from chargen.config import TrainConfig
from chargen.errors import ChargenError
from chargen.store.record import Position

CALIBRATION_STEPS = (5, 25)  # the first estimate comes from the speed of these steps
REAIM_EVERY = 50  # then the estimate is renewed every this many steps
TIME_SCALE = "CHARGEN_TIME_SCALE"  # multiplies every --minutes alike: README's tour test runs in seconds


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

    The speed of a few early steps gives the first estimate; every REAIM_EVERY steps it is renewed
    from the speed measured so far and the measured cost of evaluating, since a shared machine's
    speed drifts (and a busy start would otherwise cut the run short). Times are whatever clock the
    caller reads; the budget never reads one itself.
    """

    def __init__(self, minutes: float, now: float, step: int, eval_every: int, eval_cost_in_steps: float,
                 chars_per_step: int) -> None:
        self.minutes = minutes
        self.start, self.deadline = now, now + minutes * 60
        self.start_step = step
        self.eval_every = eval_every
        # Before an evaluation has been timed: its cost guessed as this many training steps.
        self.eval_cost_in_steps = eval_cost_in_steps
        self.chars_per_step = chars_per_step
        self.paused_s, self.pauses = 0.0, 0
        self._mark: tuple[int, float] | None = None

    @classmethod
    def for_run(cls, minutes: float, now: float, step: int, eval_every: int, eval_chars: int,
                chars_per_step: int) -> Budget:
        """A run's budget; until an evaluation is timed, it is guessed as a forward pass over what it reads,
        about 0.4 of a training step's work per character."""
        return cls(minutes, now, step, eval_every, 0.4 * (eval_chars / chars_per_step), chars_per_step)

    def expired(self, now: float) -> bool:
        return now >= self.deadline

    def plan(self, step: int, total: int | None, now: float) -> tuple[int | None, str | None]:
        """After `step` steps: the (possibly new) total step count, and a note when it is first set."""
        done = step - self.start_step
        if total is None:
            if done == CALIBRATION_STEPS[0]:
                self._mark = (step, now)
            elif done >= CALIBRATION_STEPS[1] and self._mark is not None:
                per_step = (now - self._mark[1]) / (step - self._mark[0])
                total = self._aim(step, per_step, now)
                return total, (f"measured {self.chars_per_step / per_step:,.0f} chars/s: {self.minutes:g} "
                               f"minutes is about {total - self.start_step:,} steps")
        elif done % REAIM_EVERY == 0 and step < total:
            total = self._aim(step, (now - self.start - self.paused_s) / done, now)
        return total, None

    def after_pause(self, paused_at: float, resumed_at: float) -> None:
        """Count the time an evaluation and save took: it is not training time, and it will recur."""
        self.paused_s += resumed_at - paused_at
        self.pauses += 1

    def _aim(self, step: int, seconds_per_step: float, now: float) -> int:
        """The step at which the budget runs out, counting the evaluations on the way."""
        if self.pauses:
            eval_s = self.paused_s / self.pauses
        else:
            eval_s = self.eval_cost_in_steps * seconds_per_step
        per_step = seconds_per_step + eval_s / self.eval_every
        steps_left = max(1, int(0.98 * (self.deadline - now - eval_s) / per_step))
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
