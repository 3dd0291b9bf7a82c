"""A run as the user asked for it: built and checked once (by the CLI), then consumed by chargen.train.launch."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from chargen.config import ModelConfig, TrainConfig
from chargen.errors import ChargenError

MODEL_OPTIONS = ("cell", "layers", "hidden_size", "embed_dim", "dropout", "init", "weight_drop", "input_dropout",
                 "locked_dropout")
TRAIN_OPTIONS = tuple(f.name for f in fields(TrainConfig))
assert set(MODEL_OPTIONS) <= {f.name for f in fields(ModelConfig)}


@dataclass
class RunRequest:
    corpus: list[str]  # text files or folders; on resume, empty means the run's own
    model: dict[str, Any] = field(default_factory=dict)  # the model options the user chose
    # The training options the user chose (the time-budget recipe fills in the rest), or a whole
    # TrainConfig, taken as it is.
    train: dict[str, Any] | TrainConfig = field(default_factory=dict)
    run_dir: Path = Path("checkpoints/run")
    encoding: str | None = None  # None: utf-8, or on resume the run's own
    max_vocab: int | None = None
    init_from: Path | None = None  # a checkpoint file to fine-tune (--init-from)
    resume: bool = False  # continue the run in run_dir exactly
    allow_corpus_change: bool = False  # on resume, accept a corpus that differs from the run's

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        if self.resume and self.init_from is not None:
            raise ChargenError("--init-from starts a new run from a model; --resume continues a run: use one of them")
        if unknown := [k for k in self.model if k not in MODEL_OPTIONS]:
            raise ValueError(f"not model options: {unknown}")  # a caller's mistake, not a user's

    @classmethod
    def from_options(cls, corpus: list[str], options: dict[str, Any], **rest: Any) -> RunRequest:
        """A request from one dict of chosen options (as flags give them), split into model and training."""
        model = {k: v for k, v in options.items() if k in MODEL_OPTIONS}
        train = {k: v for k, v in options.items() if k in TRAIN_OPTIONS}
        if unknown := set(options) - set(model) - set(train):
            raise ValueError(f"not run options: {sorted(unknown)}")
        return cls(corpus, model, train, **rest)

    @classmethod
    def resuming(cls, run_dir: Path, options: dict[str, Any] | None = None, **rest: Any) -> RunRequest:
        """A request to continue the run in `run_dir`, changing only what `options` may change on resume."""
        return cls.from_options(rest.pop("corpus", []), options or {}, run_dir=run_dir, resume=True, **rest)

    @property
    def chosen(self) -> dict[str, Any]:
        """Every option the user chose, model and training alike (a whole TrainConfig counts as all chosen)."""
        train = self.train if isinstance(self.train, dict) else {f.name: getattr(self.train, f.name)
                                                                  for f in fields(TrainConfig)}
        return {**self.model, **train}
