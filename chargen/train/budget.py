"""Turn a --minutes budget into the run's step count, so the learning-rate schedule ends when the time does."""

from __future__ import annotations

import math
import os
from collections import deque

from chargen.config import TrainConfig
from chargen.errors import ChargenError
from chargen.store.record import Position

CALIBRATION_STEPS = (5, 25)  # the first estimate comes from the speed of these steps
REAIM_EVERY = 10  # then the estimate is renewed every this many steps (arithmetic only: cheap)
RECENT_S = 30.0  # from the speed of about the last this many seconds of training
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
    from the speed of the last RECENT_S seconds and the measured cost of evaluating. A shared machine's
    speed drifts, up to 2x from one run to the next on this project's 2-core CPU: planned from the
    recent speed, a slow window shortens the schedule while it lasts, so the learning rate's decay still
    ends with the time, and a fast one lengthens it, so the time is spent. `limit` caps the run at a
    step (--epochs with --minutes: whichever ends first). Times are whatever clock the caller reads;
    the budget never reads one itself.
    """

    def __init__(self, minutes: float, now: float, step: int, eval_every: int, eval_cost_in_steps: float,
                 chars_per_step: int, limit: int | None = None) -> None:
        self.minutes = minutes
        self.start, self.deadline = now, now + minutes * 60
        self.start_step = step
        self.eval_every = eval_every
        # Before an evaluation has been timed: its cost guessed as this many training steps.
        self.eval_cost_in_steps = eval_cost_in_steps
        self.chars_per_step = chars_per_step
        self.limit = limit
        self.paused_s, self.pauses = 0.0, 0
        self._marks: deque[tuple[int, float]] = deque()  # (step, training seconds so far) at each re-aim

    @classmethod
    def for_run(cls, minutes: float, now: float, step: int, eval_every: int, eval_chars: int,
                chars_per_step: int, limit: int | None = None) -> Budget:
        """A run's budget; until an evaluation is timed, it is guessed as a forward pass over what it reads,
        about 0.4 of a training step's work per character."""
        return cls(minutes, now, step, eval_every, 0.4 * (eval_chars / chars_per_step), chars_per_step, limit)

    def expired(self, now: float) -> bool:
        return now >= self.deadline

    def plan(self, step: int, total: int | None, now: float) -> tuple[int | None, str | None]:
        """After `step` steps: the (possibly new) total step count, and a note when it is first set."""
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
                    note += f"; the run ends sooner, at step {total:,}, after its last pass (--epochs)"
                return total, note
        elif done % REAIM_EVERY == 0 and step < total:
            while self._marks and self._marks[-1][0] >= step:  # a rollback: marks past where the run now is
                self._marks.pop()
            self._marks.append((step, trained_s))
            while len(self._marks) > 2 and trained_s - self._marks[1][1] >= RECENT_S:
                self._marks.popleft()  # keep the latest mark at least RECENT_S old, and those since
            mark_step, mark_s = self._marks[0]
            if step > mark_step:
                total = self._aim(step, (trained_s - mark_s) / (step - mark_step), now)
        return total, None

    def after_pause(self, paused_at: float, resumed_at: float) -> None:
        """Count the time an evaluation and save took: it is not training time, and it will recur."""
        self.paused_s += resumed_at - paused_at
        self.pauses += 1

    def _aim(self, step: int, seconds_per_step: float, now: float, capped: bool = True) -> int:
        """The step at which the budget runs out, counting the evaluations on the way (and the cap)."""
        if self.pauses:
            eval_s = self.paused_s / self.pauses
        else:
            eval_s = self.eval_cost_in_steps * seconds_per_step
        per_step = seconds_per_step + eval_s / self.eval_every
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
