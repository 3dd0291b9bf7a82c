"""What a run leaves in its folder as it trains: checkpoints, its config and metrics (written by the main
process only), and the way back to the last checkpoint after a divergence."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chargen.config import ModelConfig, TrainConfig
from chargen.data.corpus import Corpus
from chargen.errors import ChargenError
from chargen.store import runs
from chargen.store.checkpoint import load_checkpoint, save_checkpoint
from chargen.store.files import describe_os_error, remove_orphans
from chargen.store.weights import write_weights
from chargen.train.distributed import Single
from chargen.train.state import TrainState

MAX_ROLLBACKS = 3


class Saves:
    """A run folder being written: where the last good checkpoint is, and how to get back to it."""

    def __init__(self, run_dir: Path, corpus: Corpus, parent: dict[str, Any] | None, group: Single) -> None:
        self.run_dir, self.corpus, self.parent, self.group = run_dir, corpus, parent, group
        self.last_saved: int | None = None  # the step of the last latest.pt this run wrote or resumed from

    @contextlib.contextmanager
    def held(self) -> Iterator[list[Path]]:
        """The run folder, made and proven writable, locked against another process while the run trains;
        yields the temporary files an interrupted save had left there, now removed."""
        with contextlib.ExitStack() as stack:
            def claim() -> list[Path]:
                runs.ensure_writable(self.run_dir)
                stack.enter_context(runs.RunLock(self.run_dir))
                return remove_orphans(self.run_dir)

            yield self.group.on_main(claim)

    def write_config(self, model_config: ModelConfig, cfg: TrainConfig) -> None:
        corpus = self.corpus
        self.group.on_main(lambda: runs.write_config(self.run_dir, {
            "model": asdict(model_config), "train": asdict(cfg), "world_size": self.group.world, "parent": self.parent,
            "corpus": {"sources": list(corpus.sources), "sha256": corpus.sha256,
                       "chars": len(corpus), "vocab_size": corpus.vocab.size}}))

    def mark_ended(self, reason: str) -> None:
        self.group.on_main(lambda: runs.mark_ended(self.run_dir, reason))

    def append_metrics(self, record: dict[str, Any]) -> None:
        self.group.on_main(lambda: runs.append_metrics(self.run_dir, record))

    def save(self, train: TrainState, name: str) -> None:
        """Write `name` (best.pt, or latest.pt with what resuming needs); a collective, written by the main process."""
        checkpoint = train.snapshot(self.corpus, self.parent, resumable=name == runs.LATEST)

        def write() -> None:
            try:
                save_checkpoint(self.run_dir / name, checkpoint)
                if name == runs.BEST:  # then the same model for sampling without torch: it must be the newer
                    write_weights(self.run_dir / runs.BEST_WEIGHTS, checkpoint)
            except OSError as e:
                raise ChargenError(f"{describe_os_error(e)} while saving step {train.pos.step} to "
                                   f"{self.run_dir / name}; {self.intact()}") from None

        self.group.on_main(write)  # and no process runs ahead of the save
        if name == runs.LATEST:
            self.last_saved = train.pos.step

    def intact(self) -> str:
        return (f"the checkpoint from step {self.last_saved} is intact" if self.last_saved is not None
                else "no checkpoint had been saved yet")

    def rollback(self, train: TrainState) -> None:
        """Return to the last saved checkpoint with half the learning rate, after a divergence."""
        path = self.run_dir / runs.LATEST
        rollbacks, scale = train.pos.rollbacks + 1, train.pos.lr_scale * 0.5
        if rollbacks > MAX_ROLLBACKS or not self.group.on_main(path.is_file):
            raise ChargenError(
                f"training diverged: the loss stayed NaN/infinite at step {train.pos.step} even after "
                f"{MAX_ROLLBACKS} rollbacks with lower learning rates; lower --lr or --grad-clip"
            )
        train.restore(self.group.on_main(lambda: load_checkpoint(path)))
        train.pos.rollbacks, train.pos.lr_scale = rollbacks, scale
