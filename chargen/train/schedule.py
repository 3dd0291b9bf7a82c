"""The learning-rate schedule: linear warm-up, then cosine decay to a floor at the last step."""

from __future__ import annotations

import math

from chargen.config import TrainConfig


def learning_rate(step: int, total: int | None, cfg: TrainConfig, scale: float = 1.0) -> float:
    """Linear warm-up to cfg.lr, then cosine decay to cfg.min_lr_ratio * cfg.lr at `total`."""
    peak = cfg.lr * scale
    if step < cfg.warmup_steps:
        return peak * (step + 1) / cfg.warmup_steps
    if total is None or total <= cfg.warmup_steps:
        return peak
    progress = min(1.0, (step - cfg.warmup_steps) / (total - cfg.warmup_steps))
    floor = peak * cfg.min_lr_ratio
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
