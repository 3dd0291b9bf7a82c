"""The training loop's running figures: the mean loss since the last evaluation and the speed shown."""

from __future__ import annotations

RATE_EVERY_S = 2.0  # the speed shown is renewed this often


class LossWindow:
    """The mean training loss of the applied steps since the last evaluation, and how often clipping engaged."""

    def __init__(self) -> None:
        self.reset()

    def add(self, loss: float, applied: bool, clipped: bool) -> None:
        self.clipped += clipped
        if applied:
            self.total, self.count = self.total + loss, self.count + 1

    @property
    def mean(self) -> float:
        return self.total / max(self.count, 1)

    @property
    def clipped_share(self) -> float:
        return round(self.clipped / max(self.count, 1), 4)

    def reset(self) -> None:
        self.total, self.count, self.clipped = 0.0, 0, 0


class RateMeter:
    """Characters per second of training, renewed every RATE_EVERY_S; pauses (evaluations, saves) left out."""

    def __init__(self, now: float, chars: int) -> None:
        self.rate = 0.0
        self.restart(now, chars)

    def update(self, now: float, chars: int, first: bool = False) -> float:
        if first or now - self.since > RATE_EVERY_S:
            self.rate = (chars - self.chars) / max(now - self.since, 1e-9)
            self.since, self.chars = now, chars
        return self.rate

    def restart(self, now: float, chars: int) -> None:
        self.since, self.chars = now, chars
