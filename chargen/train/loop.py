"""The training loop: teacher forcing over truncated-BPTT windows, evaluation, checkpoints, resume.

The loop knows the model only through its forward contract (ids, state -> logits, state). It reports
progress as small records it yields (the CLI renders them) and never prints. Everything that decides
what happens next (weights, optimizer, step, data position, carried state, random generators) is in
the checkpoint, so a resumed run continues bit for bit. Under torchrun the same loop runs in every
process; the process group (`chargen.train.distributed`) makes them agree, and only the main one writes.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from chargen import __version__

from chargen.store import runs
from chargen.train.budget import Budget
from chargen.store.checkpoint import describe_os_error, load_checkpoint, remove_orphans, save_checkpoint
from chargen.config import ModelConfig, SamplingSettings, TrainConfig
from chargen.data.corpus import Corpus
from chargen.data.streams import TextData
from chargen.model.device import check_precision, resolve_device, set_arithmetic
from chargen.train.distributed import Single
from chargen.errors import ChargenError
from chargen.data.items import ItemData
from chargen.train.loss import bits, forward_loss, loss_sum
from chargen.model.charrnn import CharRNN, State, count_parameters, detach_state
from chargen.train.optim import make_optimizer
from chargen.train.reports import Evaluated, Finished, Note, Report, Started, Step
from chargen.generate.sample import Sampler, StepModel, generate_items
from chargen.train.schedule import learning_rate

BAD_STEPS_BEFORE_ROLLBACK = 5  # consecutive non-finite steps that count as divergence
MAX_ROLLBACKS = 3
clock = time.perf_counter  # the loop's only source of time; tests drive it with a fake


@dataclass
class Position:
    """Where the loop is: everything besides weights and optimizer that a resume needs."""

    step: int = 0
    epoch: int = 0
    window: int = 0
    total_steps: int | None = None
    best_val_loss: float | None = None
    lr_scale: float = 1.0  # halved at each rollback after divergence
    rollbacks: int = 0
    elapsed_s: float = 0.0  # training wall time before this process
    chars: int = 0  # characters trained on so far (all processes)


def make_data(corpus: Corpus, cfg: TrainConfig, shard: tuple[int, int] = (0, 1)) -> TextData | ItemData:
    """The run's batches: one text read as streams, or (line mode) items."""
    return (ItemData if cfg.lines else TextData)(corpus, cfg, shard)


class Trainer:
    """One run: builds its model and data, then `run()` trains it and yields reports."""

    def __init__(
        self,
        run_dir: Path,
        corpus: Corpus,
        model_config: ModelConfig,
        cfg: TrainConfig,
        resume: dict[str, Any] | None = None,
        minutes_extra: float | None = None,
        group: Single | None = None,
        init_weights: dict[str, torch.Tensor] | None = None,
        parent: dict[str, Any] | None = None,
    ) -> None:
        self.run_dir, self.corpus, self.model_config, self.cfg = run_dir, corpus, model_config, cfg
        self.parent = parent  # the model a fine-tuned run started from (chargen.train.finetune)
        self.group = group = group or Single()
        self.device = resolve_device(cfg.device, group.local_rank)
        check_precision(cfg.precision, self.device)
        set_arithmetic(cfg.precision, self.device)
        self.data = make_data(corpus, cfg, (group.rank, group.world))
        self.notes: list[str] = []

        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.model = CharRNN(model_config).to(self.device)
        if init_weights is not None:
            self.model.load_state_dict(init_weights)
        else:
            self.model.init_output_bias(torch.from_numpy(self.data.train_counts))
        group.seed_generators(cfg.seed)
        self.net = group.wrap(self.model)  # what training steps run through
        self.optimizer = make_optimizer(self.model, cfg)
        self.pos = Position()
        self.clipped_steps = 0  # since the last evaluation
        self.last_saved: int | None = None  # the step of the last checkpoint this run wrote or resumed from
        self.state: State = self.model.init_state(cfg.batch_size, self.device)
        self.minutes = cfg.minutes
        self.resumed_from: int | None = None
        if resume is not None:
            self._restore(resume)
            self.resumed_from = self.pos.step
            if minutes_extra is not None:  # --minutes on resume: that much more time, re-planned
                self.minutes, self.pos.total_steps = minutes_extra, None
            elif self.pos.total_steps is not None:  # the plan was made: finish it, exactly
                self.minutes = None
            elif self.minutes is not None:  # stopped before the budget was planned: the time left
                self.minutes = max(self.minutes - self.pos.elapsed_s / 60, 0.1)
        if self.pos.total_steps is None and self.minutes is None:
            if cfg.steps is not None:
                self.pos.total_steps = cfg.steps
            else:
                assert cfg.epochs is not None, "new_trainer gives every run a length"
                self.pos.total_steps = max(1, math.ceil(cfg.epochs * self.data.steps_per_epoch))

    # -- checkpoints -------------------------------------------------------------------------

    def _payload(self, resumable: bool) -> dict[str, Any]:
        """The checkpoint's contents; a collective: every process hands in its streams' state and generators."""
        weights = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        payload: dict[str, Any] = {
            "chargen_version": __version__,
            "model_config": asdict(self.model_config),
            "vocab": self.corpus.vocab.chars,
            "weights": weights,
            "corpus": {"sha256": self.corpus.sha256, "sources": list(self.corpus.sources),
                       "encoding": self.corpus.encoding, "chars": len(self.corpus)},
            "train_config": asdict(self.cfg),
            "position": asdict(self.pos),
            "world_size": self.group.world,
        }
        if self.parent is not None:
            payload["parent"] = self.parent
        if resumable:
            mine = {
                "state": [s.detach().cpu().clone() for s in self.state],
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                "python": random.getstate(),
            }
            ranks = self.group.gather(mine)
            payload["resume"] = {
                "optimizer": self.optimizer.state_dict(),
                # Every process's streams side by side: (L, world x B, H), the one-process layout.
                "state": [torch.cat(parts, dim=1) for parts in zip(*(r["state"] for r in ranks))],
                "rng": [{k: r[k] for k in ("torch", "cuda", "python")} for r in ranks],
            }
        return payload

    def _restore(self, payload: dict[str, Any]) -> None:
        self.model.load_state_dict(payload["weights"])
        resume = payload["resume"]
        self.optimizer.load_state_dict(resume["optimizer"])
        self.pos = Position(**payload["position"])
        B, rank = self.cfg.batch_size, self.group.rank
        self.state = tuple(s[:, rank * B:(rank + 1) * B].to(self.device) for s in resume["state"])
        # Checkpoints from single-process chargen 0.1 kept one process's generators at the top level.
        rngs = resume.get("rng") or [{"torch": resume["torch_rng"], "cuda": resume["cuda_rng"],
                                      "python": resume["python_rng"]}]
        rng = rngs[rank]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])
        random.setstate(rng["python"])

    def _save(self, name: str) -> None:
        payload = self._payload(resumable=name == runs.LATEST)

        def write() -> None:
            try:
                save_checkpoint(self.run_dir / name, payload)
            except OSError as e:
                intact = self._intact()
                raise ChargenError(f"{describe_os_error(e)} while saving step {self.pos.step} to "
                                   f"{self.run_dir / name}; {intact}") from None

        self.group.on_main(write)  # and no process runs ahead of the save

    def _rollback(self) -> str:
        """Return to the last saved checkpoint with half the learning rate, after a divergence."""
        path = self.run_dir / runs.LATEST
        rollbacks, scale = self.pos.rollbacks + 1, self.pos.lr_scale * 0.5
        if rollbacks > MAX_ROLLBACKS or not self.group.on_main(path.is_file):
            raise ChargenError(
                f"training diverged: the loss stayed NaN/infinite at step {self.pos.step} even after "
                f"{MAX_ROLLBACKS} rollbacks with lower learning rates; lower --lr or --grad-clip"
            )
        self._restore(self.group.on_main(lambda: load_checkpoint(path)))
        self.pos.rollbacks, self.pos.lr_scale = rollbacks, scale
        return (f"loss was not finite for {BAD_STEPS_BEFORE_ROLLBACK} steps; rolled back to step "
                f"{self.pos.step} with the learning rate scaled by {scale:g}")

    # -- the loop ----------------------------------------------------------------------------

    def sampler(self, temperature: float = 0.8, seed: int | None = None, batch_size: int = 1) -> Sampler:
        """A sampler over the current weights, with its own generator: training randomness is untouched."""
        step_model = StepModel(self.model_config, self.model.state_dict())
        return Sampler(step_model, self.corpus.vocab, SamplingSettings(temperature), seed=seed, batch_size=batch_size)

    def sample_text(self, length: int = 160, temperature: float = 0.8, seed: int | None = None) -> str:
        """What the model writes now: `length` characters, or in line mode whole items (one per line)
        until about that many."""
        if not self.cfg.lines:
            return "".join(chars[0] for chars in self.sampler(temperature, seed).stream(length))
        sampler, items = self.sampler(temperature, seed, batch_size=8), []
        while sum(len(item) + 1 for item in items) < length:
            items += generate_items(sampler, max_length=length)
        return "\n".join(items)

    def preview(self) -> str:
        return self.sample_text(seed=self.cfg.seed + self.pos.step)

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> Iterator[Report]:
        with contextlib.ExitStack() as held:
            def claim() -> list[Path]:
                runs.ensure_writable(self.run_dir)
                held.enter_context(runs.RunLock(self.run_dir))
                return remove_orphans(self.run_dir)

            if removed := self.group.on_main(claim):
                self.notes.append(f"removed {len(removed)} temporary file(s) left by an interrupted save")
            try:
                with self.group.watch():
                    yield from self._loop(should_stop)
            except torch.cuda.OutOfMemoryError:
                c, cfg = self.model_config, self.cfg
                raise ChargenError(
                    f"{self.device} ran out of memory training a {c.cell} {c.layers}x{c.hidden_size} on batches of "
                    f"{cfg.batch_size} x {cfg.seq_len}; lower --batch-size (or --seq-len, --hidden-size); "
                    f"{self._intact()}") from None

    def _intact(self) -> str:
        return (f"the checkpoint from step {self.last_saved} is intact" if self.last_saved is not None
                else "no checkpoint had been saved yet")

    def _train_step(self, params: list[torch.nn.Parameter]) -> tuple[float, bool]:
        """One batch: forward, backward, clip, update. Returns (loss, whether the update was applied)."""
        cfg, pos = self.cfg, self.pos
        batch = self.data.batch(pos.epoch, pos.window)
        x, y = batch.inputs.to(self.device, non_blocking=True), batch.targets.to(self.device, non_blocking=True)
        loss, state = forward_loss(self.net, x, y, self.state if self.data.carries_state else None, cfg.precision)
        loss = loss * batch.weight
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # The gradients are every process's average by now, so all of them see the same norm and
        # make the same choice below.
        norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
        # One transfer for both numbers: on a GPU each read waits for all the work queued before it.
        loss_value, grad_norm = torch.stack([loss.detach().float(), norm.float()]).tolist()
        self.clipped_steps += 0 < cfg.grad_clip < grad_norm  # how often clipping engaged, for metrics.jsonl
        if not math.isfinite(grad_norm):
            # Skip the update: non-finite numbers must never reach the weights. A carried state
            # that blew up would poison every later window, so it starts afresh.
            self.state = self.model.init_state(cfg.batch_size, self.device)
            return loss_value, False
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(pos.step, pos.total_steps, cfg, pos.lr_scale)
        self.optimizer.step()
        self.state = detach_state(state)
        pos.chars += batch.chars
        return loss_value, True

    def _advance(self) -> None:
        pos = self.pos
        pos.step += 1
        pos.window += 1
        if pos.window >= self.data.steps_per_epoch:
            pos.epoch, pos.window = pos.epoch + 1, 0
            self.state = self.model.init_state(self.cfg.batch_size, self.device)

    def _budget(self, minutes: float, now: float) -> Budget:
        per_step = self.data.chars_per_step
        # Until an evaluation is timed, guess it: a forward pass over what it reads, ~0.4 of a step's work.
        val_steps = self.data.eval_chars / per_step
        return Budget(minutes, now, self.pos.step, self.cfg.eval_every, 0.4 * val_steps, per_step)

    def _loop(self, should_stop: Callable[[], bool]) -> Iterator[Report]:
        cfg, group = self.cfg, self.group
        group.on_main(lambda: runs.write_config(self.run_dir, {
            "model": asdict(self.model_config), "train": asdict(cfg), "world_size": group.world, "parent": self.parent,
            "corpus": {"sources": list(self.corpus.sources), "sha256": self.corpus.sha256,
                       "chars": len(self.corpus), "vocab_size": self.corpus.vocab.size}}))
        if self.resumed_from is not None:
            group.on_main(lambda: runs.trim_metrics(self.run_dir, self.pos.step))
        yield Started(self.run_dir, self.resumed_from, count_parameters(self.model), str(self.device),
                      self.data.train_chars, self.data.val_chars, self.notes, group.world, self.data.eval_chars)

        budget = self._budget(self.minutes, clock()) if self.minutes is not None else None
        self.last_saved = self.pos.step if self.resumed_from is not None else None
        params = list(self.model.parameters())
        loss_sum, loss_count, bad_in_row = 0.0, 0, 0
        reason = "done"
        start_step = self.pos.step
        rate, rate_t, rate_chars = 0.0, clock(), self.pos.chars
        segment_start = rate_t

        while self.pos.total_steps is None or self.pos.step < self.pos.total_steps:
            loss_value, applied = self._train_step(params)
            if applied:
                bad_in_row = 0
            else:
                bad_in_row += 1
                yield Note(f"step {self.pos.step + 1}: loss or gradient not finite; update skipped")
                if bad_in_row >= BAD_STEPS_BEFORE_ROLLBACK:
                    yield Note(self._rollback())
                    bad_in_row = 0
                    continue
            self._advance()
            pos = self.pos

            now = clock()
            total, note = budget.plan(pos.step, pos.total_steps, now) if budget else (pos.total_steps, None)
            agreed = group.agree(loss_value, total, should_stop(), budget is not None and budget.expired(now))
            pos.total_steps = agreed.total_steps
            if applied:
                loss_sum, loss_count = loss_sum + agreed.loss, loss_count + 1
            if note:
                yield Note(note)
            if now - rate_t > 2.0 or pos.step == start_step + 1:
                rate = (pos.chars - rate_chars) / max(now - rate_t, 1e-9)
                rate_t, rate_chars = now, pos.chars
            yield Step(pos.step, pos.total_steps, pos.epoch + pos.window / self.data.steps_per_epoch,
                       agreed.loss, learning_rate(pos.step - 1, pos.total_steps, cfg, pos.lr_scale), rate)

            finished = pos.total_steps is not None and pos.step >= pos.total_steps
            stop, out_of_time = agreed.stop, agreed.out_of_time
            save_point = pos.step % cfg.eval_every == 0 or finished or out_of_time
            if save_point and bad_in_row and not stop:
                # Only a healthy state is a save point: a rollback must land before the trouble began.
                yield Note(f"step {pos.step}: not saving while updates are being skipped")
            elif save_point or stop:
                pos.elapsed_s += now - segment_start
                segment_start = now
                if not stop:
                    yield self._evaluate(loss_sum / max(loss_count, 1), loss_count)
                    loss_sum, loss_count, self.clipped_steps = 0.0, 0, 0
                self._save(runs.LATEST)
                self.last_saved = pos.step
                if stop or out_of_time:
                    reason = "interrupted" if stop else "time"
                    break
                resumed_at = clock()
                if budget is not None:
                    budget.after_pause(now, resumed_at)
                rate_t, rate_chars = resumed_at, pos.chars  # the shown speed is training speed, pauses aside
        else:
            if self.pos.step == start_step and self.resumed_from is not None:
                yield Note(f"the run already reached its {self.pos.total_steps} steps; raise --steps to train more")
        yield Finished(self.pos.step, reason, self.pos.best_val_loss, self.run_dir / runs.LATEST)

    def validation_loss(self) -> tuple[float, int] | None:
        """(nats/char, characters predicted) over the validation text, or the part of it --eval-chars
        reads (every process evaluates its share and the sums add up)."""
        if not self.data.has_val:
            return None
        total, count = loss_sum(self.model, self.data.val_batches(), self.device, self.data.carries_state)
        total, count = self.group.sum(total, count)
        return total / count, int(count)

    def _evaluate(self, train_loss: float, steps: int) -> Evaluated:
        cfg, pos = self.cfg, self.pos
        val_loss, val_chars = self.validation_loss() or (None, 0)
        metric = val_loss if val_loss is not None else train_loss
        best = pos.best_val_loss is None or metric < pos.best_val_loss
        if best:
            pos.best_val_loss = metric
        preview = self.group.on_main(self.preview)
        record = {
            "step": pos.step, "epoch": round(pos.epoch + pos.window / self.data.steps_per_epoch, 4),
            "train_loss": train_loss, "val_loss": val_loss, "val_bpc": bits(val_loss) if val_loss is not None else None,
            "val_chars": val_chars,  # characters the evaluation predicted: all of the validation text, or a part
            "lr": learning_rate(max(pos.step - 1, 0), pos.total_steps, cfg, pos.lr_scale),
            "chars": pos.chars,
            "clipped": round(self.clipped_steps / max(steps, 1), 4),  # share of the steps since the last evaluation
            "elapsed_s": round(pos.elapsed_s, 3), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        self.group.on_main(lambda: runs.append_metrics(self.run_dir, record))
        if best:
            self._save(runs.BEST)
        return Evaluated(pos.step, val_loss, train_loss, best, preview, record)
