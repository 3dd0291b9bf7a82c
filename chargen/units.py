"""Units of a loss: nats per character (what training minimises) and bits per character (what is quoted)."""

from __future__ import annotations

import math

LN2 = math.log(2.0)


def bits(nats: float) -> float:
    return nats / LN2
