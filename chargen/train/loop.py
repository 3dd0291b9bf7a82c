"""The training loop: teacher forcing over truncated-BPTT windows, evaluation, checkpoints, resume.

The loop knows the model only through its forward contract (ids, state -> logits, state). It reports
progress as small records it yields (the CLI renders them) and never prints; a preview of what the
model writes is handed to it, not made by it. Everything that decides what happens next is in the
checkpoint (chargen.train.state), so a resumed run continues bit for bit. Under torchrun the same loop
runs in every process; the process group (chargen.train.distributed) makes them agree, and only the
main one writes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from chargen.config import ModelConfig, TrainConfig
from chargen.data.corpus import Corpus
from chargen.data.items import ItemData
from chargen.data.streams import TextData
from chargen.data.vocab import Vocab
from chargen.errors import ChargenError
from chargen.model.charrnn import count_parameters
from chargen.model.device import training_device
from chargen.store import runs
from chargen.store.record import Checkpoint, Position
from chargen.train.budget import Budget, run_length
from chargen.train.distributed import Single
from chargen.train.loss import loss_sum
from chargen.train.meters import LossWindow, RateMeter
from chargen.train.plans import Pace
from chargen.train.reports import Evaluated, Finished, Note, Report, Started, Step
from chargen.train.saves import Saves
from chargen.train.schedule import learning_rate
from chargen.train.state import TrainState
from chargen.train.step import TrainStep
from chargen.units import bits

BAD_STEPS_BEFORE_ROLLBACK = 5  # consecutive non-finite steps that count as divergence
clock = time.perf_counter  # the loop's only source of time; tests drive it with a fake

# What the model writes now, for the log: (config, vocabulary, weights, seed, line mode) -> text.
# The caller hands it in (chargen.generate.sample.preview): the loop itself never generates.
Preview = Callable[[ModelConfig, Vocab, dict[str, torch.Tensor], int, bool], str]


def make_data(corpus: Corpus, cfg: TrainConfig, shard: tuple[int, int] = (0, 1)) -> TextData | ItemData:
    """The run's batches: one text read as streams, or (line mode) items."""
    return (ItemData if cfg.lines else TextData)(corpus, cfg, shard)


class Trainer:
    """One run: builds its model and data, then `run()` trains it and yields reports."""

    def __init__(self, run_dir: Path, corpus: Corpus, model_config: ModelConfig, cfg: TrainConfig, *,
                 group: Single | None = None, resume: Checkpoint | None = None, minutes_extra: float | None = None,
                 init_weights: dict[str, torch.Tensor] | None = None, parent: dict[str, Any] | None = None,
                 preview: Preview | None = None, pace: Pace | None = None) -> None:
        self.run_dir, self.corpus, self.model_config, self.cfg = run_dir, corpus, model_config, cfg
        self.pace = pace  # the schedule this machine's last run of the same plan trained, and where to keep this one's
        self.parent = parent  # the model a fine-tuned run started from (chargen.train.finetune)
        self.preview = preview
        self.group = group = group or Single()
        self.device = training_device(cfg.device, cfg.precision, group.local_rank)
        self.data = make_data(corpus, cfg, (group.rank, group.world))
        self.notes: list[str] = []
        self.train = TrainState(model_config, cfg, self.device, group, torch.from_numpy(self.data.train_counts),
                                init_weights)
        self.model = self.train.model
        self.step = TrainStep(self.train.net, self.train.optimizer, cfg.precision, cfg.grad_clip)
        self.saves = Saves(run_dir, corpus, parent, group)
        self.resumed_from = None
        if resume is not None:
            self.train.restore(resume)
            self.resumed_from = self.saves.last_saved = self.pos.step
        self.minutes, self.pos.total_steps = run_length(cfg, self.pos, self.data.steps_per_epoch, resume is not None,
                                                        minutes_extra)

    @property
    def pos(self) -> Position:
        return self.train.pos

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> Iterator[Report]:
        with self.saves.held() as removed:
            if removed:
                self.notes.append(f"removed {len(removed)} temporary file(s) left by an interrupted save")
            try:
                with self.group.watch():
                    yield from self._loop(should_stop)
            except torch.cuda.OutOfMemoryError:
                c, cfg = self.model_config, self.cfg
                raise ChargenError(
                    f"{self.device} ran out of memory training a {c.cell} {c.layers}x{c.hidden_size} on batches of "
                    f"{cfg.batch_size} x {cfg.seq_len}; lower --batch-size (or --seq-len, --hidden-size); "
                    f"{self.saves.intact()}") from None

    def _loop(self, should_stop: Callable[[], bool]) -> Iterator[Report]:
        yield self._start()
        cfg, group, pos = self.cfg, self.group, self.pos
        limit = math.ceil(cfg.epochs * self.data.steps_per_epoch) if cfg.epochs is not None else None
        budget = (Budget.for_run(self.minutes, clock(), pos.step, cfg.eval_every, self.data.eval_chars,
                                 self.data.chars_per_step, limit, self.pace)
                  if self.minutes is not None else None)
        window, bad_in_row, reason, start_step = LossWindow(), 0, "done", pos.step
        rate = RateMeter(clock(), pos.chars)
        segment_start = rate.since
        while pos.total_steps is None or pos.step < pos.total_steps:
            result = self._train_step()
            bad_in_row = 0 if result.applied else bad_in_row + 1
            if not result.applied:
                yield Note(f"step {pos.step + 1}: loss or gradient not finite; update skipped")
                if bad_in_row >= BAD_STEPS_BEFORE_ROLLBACK:
                    self.saves.rollback(self.train)
                    bad_in_row, pos = 0, self.pos
                    yield Note(f"loss was not finite for {BAD_STEPS_BEFORE_ROLLBACK} steps; rolled back to step "
                               f"{pos.step} with the learning rate scaled by {pos.lr_scale:g}")
                    continue
            self._advance()
            now = clock()
            total, note = budget.plan(pos.step, pos.total_steps, now) if budget else (pos.total_steps, None)
            agreed = group.agree(result.loss, total, should_stop(), budget is not None and budget.expired(now))
            pos.total_steps = agreed.total_steps
            window.add(agreed.loss, result.applied, 0 < cfg.grad_clip < result.grad_norm)
            if note:
                yield Note(note)
            yield Step(pos.step, pos.total_steps, self._epoch(), agreed.loss,
                       learning_rate(pos.step - 1, pos.total_steps, cfg, pos.lr_scale),
                       rate.update(now, pos.chars, first=pos.step == start_step + 1))
            finished = pos.total_steps is not None and pos.step >= pos.total_steps
            save_point = pos.step % cfg.eval_every == 0 or finished or agreed.out_of_time
            if save_point and bad_in_row and not agreed.stop:
                # Only a healthy state is a save point: a rollback must land before the trouble began.
                yield Note(f"step {pos.step}: not saving while updates are being skipped")
            elif save_point or agreed.stop:
                pos.elapsed_s += now - segment_start
                segment_start = now
                if not agreed.stop:
                    yield self._evaluate(window)
                    window.reset()
                self.saves.save(self.train, runs.LATEST)
                if agreed.stop or agreed.out_of_time:
                    reason = "interrupted" if agreed.stop else "time"
                    break
                resumed_at = clock()
                if budget is not None:
                    budget.after_pause(now, resumed_at)
                rate.restart(resumed_at, pos.chars)  # the shown speed is training speed, pauses aside
        else:
            if pos.step == start_step and self.resumed_from is not None:
                yield Note(f"the run already reached its {pos.total_steps} steps; raise --steps to train more")
        reached = budget.pace_reached(pos.step) if reason == "done" and budget is not None else None
        if reached and self.pace is not None:  # the next run of this plan trains the same schedule
            self.group.on_main(lambda: self.pace.record(*reached))
        self.saves.mark_ended(reason)
        yield Finished(pos.step, reason, pos.best_val_loss, self.run_dir / runs.LATEST)

    def _start(self) -> Started:
        group = self.group
        self.saves.write_config(self.model_config, self.cfg)
        if self.resumed_from is not None:
            group.on_main(lambda: runs.trim_metrics(self.run_dir, self.pos.step))
        return Started(self.run_dir, self.resumed_from, count_parameters(self.model), str(self.device),
                       self.data.train_chars, self.data.val_chars, self.notes, group.world, self.data.eval_chars)

    def _train_step(self):
        pos, train = self.pos, self.train
        batch = self.data.batch(pos.epoch, pos.window)
        x, y = batch.inputs.to(self.device, non_blocking=True), batch.targets.to(self.device, non_blocking=True)
        result = self.step(x, y, train.state if self.data.carries_state else None,
                           learning_rate(pos.step, pos.total_steps, self.cfg, pos.lr_scale), batch.weight)
        if result.applied:
            train.state = result.state
            pos.chars += batch.chars
        else:
            # A carried state that blew up would poison every later window, so it starts afresh.
            train.state = train.fresh_state()
        return result

    def _advance(self) -> None:
        pos = self.pos
        pos.step += 1
        pos.window += 1
        if pos.window >= self.data.steps_per_epoch:
            pos.epoch, pos.window = pos.epoch + 1, 0
            self.train.state = self.train.fresh_state()

    def _epoch(self) -> float:
        return self.pos.epoch + self.pos.window / self.data.steps_per_epoch

    def validation_loss(self) -> tuple[float, int] | None:
        """(nats/char, characters predicted) over the validation text, or the part of it --eval-chars
        reads (every process evaluates its share and the sums add up)."""
        if not self.data.has_val:
            return None
        total, count = loss_sum(self.model, self.data.val_batches(), self.device, self.data.carries_state)
        total, count = self.group.sum(total, count)
        return total / count, int(count)

    def _evaluate(self, window: LossWindow) -> Evaluated:
        cfg, pos = self.cfg, self.pos
        val_loss, val_chars = self.validation_loss() or (None, 0)
        metric = val_loss if val_loss is not None else window.mean
        best = pos.best_val_loss is None or metric < pos.best_val_loss
        if best:
            pos.best_val_loss = metric
        preview = self.group.on_main(lambda: self.preview(self.model_config, self.corpus.vocab, self.model.state_dict(),
                                                          cfg.seed + pos.step, cfg.lines) if self.preview else "")
        record = metrics_record(pos, self._epoch(), window, val_loss, val_chars,
                                learning_rate(max(pos.step - 1, 0), pos.total_steps, cfg, pos.lr_scale))
        self.saves.append_metrics(record)
        if best:
            self.saves.save(self.train, runs.BEST)
        return Evaluated(pos.step, val_loss, window.mean, best, preview, record)


def metrics_record(pos: Position, epoch: float, window: LossWindow, val_loss: float | None, val_chars: int,
                   lr: float) -> dict[str, Any]:
    """The line an evaluation appends to metrics.jsonl (chargen plot and the report read it)."""
    return {
        "step": pos.step, "epoch": round(epoch, 4), "train_loss": window.mean, "val_loss": val_loss,
        "val_bpc": bits(val_loss) if val_loss is not None else None,
        "val_chars": val_chars,  # characters the evaluation predicted: all of the validation text, or a part
        "lr": lr, "chars": pos.chars,
        "clipped": window.clipped_share,  # share of the steps since the last evaluation
        "elapsed_s": round(pos.elapsed_s, 3), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
