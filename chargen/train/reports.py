"""The records a training run yields as it goes; the CLI renders them, the library never prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Started:
    run_dir: Path
    resumed_from: int | None  # the step a resumed run continues from
    params: int
    device: str
    train_chars: int
    val_chars: int
    notes: list[str] = field(default_factory=list)
    world_size: int = 1  # processes training the run together
    eval_chars: int | None = None  # validation characters each evaluation reads, where fewer than val_chars


@dataclass
class Step:
    step: int  # optimizer steps done
    total: int | None  # None while a --minutes budget is being calibrated
    epoch: float
    loss: float  # this step's training loss, nats/char
    lr: float
    chars_per_s: float


@dataclass
class Evaluated:
    step: int
    val_loss: float | None  # nats/char over the validation text or its --eval-chars part (None without one)
    train_loss: float  # mean since the previous evaluation
    best: bool
    preview: str
    record: dict[str, Any] = field(default_factory=dict)  # the line appended to metrics.jsonl


@dataclass
class Note:
    message: str


@dataclass
class Finished:
    step: int
    reason: str  # "done", "time" or "interrupted"
    best_val_loss: float | None
    checkpoint: Path


Report = Started | Step | Evaluated | Note | Finished
