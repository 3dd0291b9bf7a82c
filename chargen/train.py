"""The training loop: teacher forcing over truncated-BPTT windows, evaluation, checkpoints, resume.

The loop knows the model only through its forward contract (ids, state -> logits, state). It reports
progress as small records it yields (the CLI renders them) and never prints. Everything that decides
what happens next (weights, optimizer, step, data position, carried state, random generators) is in
the checkpoint, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from chargen import __version__, runs
from chargen.checkpoint import describe_os_error, load_checkpoint, remove_orphans, save_checkpoint
from chargen.corpus import Corpus, load_corpus
from chargen.data import Streams, eval_windows
from chargen.errors import ChargenError
from chargen.config import DEFAULT_MINUTES, LENGTH_OPTIONS, ModelConfig, SamplingSettings, TrainConfig
from chargen.model import CharRNN, State, count_parameters, detach_state
from chargen.sample import Sampler, StepModel
from chargen.vocab import Vocab

LN2 = math.log(2.0)
BAD_STEPS_BEFORE_ROLLBACK = 5  # consecutive non-finite steps that count as divergence
MAX_ROLLBACKS = 3
CALIBRATION_STEPS = (5, 25)  # a --minutes budget is turned into steps from the speed of these steps
clock = time.perf_counter  # the loop's only source of time; tests drive it with a fake


# Records the loop yields; the CLI turns them into a progress display.
@dataclass
class Started:
    run_dir: Path
    resumed_from: int | None  # the step a resumed run continues from
    params: int
    device: str
    train_chars: int
    val_chars: int
    notes: list[str] = field(default_factory=list)


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
    val_loss: float | None  # nats/char over the whole validation text (None without one)
    train_loss: float  # mean since the previous evaluation
    best: bool
    preview: str


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


def bits(nats: float) -> float:
    return nats / LN2


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ChargenError(f"unknown device {name!r}; use auto, cpu, cuda or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ChargenError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    return device


def usable_precisions(device: torch.device) -> list[str]:
    """fp32, and bf16 where the hardware has bf16 arithmetic (emulated, it is many times slower)."""
    if device.type == "cuda":
        has_bf16 = torch.cuda.is_bf16_supported()
    elif device.type == "cpu":
        try:  # AVX-512 BF16 or AMX: oneDNN runs the fused LSTM in bf16
            has_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            has_bf16 = False
    else:
        has_bf16 = False
    return ["fp32", "bf16"] if has_bf16 else ["fp32"]


def char_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in nats per character: logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def forward_loss(model: CharRNN, x: torch.Tensor, y: torch.Tensor, state: State | None = None,
                 precision: str = "fp32") -> tuple[torch.Tensor, State]:
    """The training forward pass: (mean loss of targets y after inputs x, next state).

    In bf16 the model runs under autocast; the softmax and loss are always fp32.
    """
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits, state = model(x, state)
    return char_loss(logits.float(), y), state


@torch.no_grad()
def evaluate(model: CharRNN, ids: np.ndarray, batch_size: int, seq_len: int, device: torch.device) -> float:
    """Loss in nats/char over all of `ids`, state carried across windows."""
    was_training = model.training
    model.eval()
    state: State | None = None
    total, count = 0.0, 0
    for x, y in eval_windows(ids, batch_size, seq_len):
        logits, state = model(x.to(device), state)
        total += F.cross_entropy(logits.flatten(0, 1), y.to(device).flatten(), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total / count


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


def make_optimizer(model: CharRNN, cfg: TrainConfig) -> torch.optim.AdamW:
    # Weight decay on matrices only: decaying biases and the forget-gate init helps nothing.
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel updates each tensor in one pass: about 5x faster than the default on CPU.
    fused = next(model.parameters()).device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99), fused=fused or None)


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
    ) -> None:
        self.run_dir, self.corpus, self.model_config, self.cfg = run_dir, corpus, model_config, cfg
        self.device = resolve_device(cfg.device)
        self.train_ids, self.val_ids = corpus.split(cfg.val_fraction)
        self.streams = Streams(self.train_ids, cfg.batch_size, cfg.seq_len, seed=cfg.seed)
        if cfg.val_fraction > 0:
            eval_windows(self.val_ids, cfg.batch_size, cfg.seq_len)  # a too-short text fails now, not at the first evaluation
        self.notes: list[str] = []
        if cfg.precision == "bf16" and "bf16" not in usable_precisions(self.device):
            self.notes.append(f"{self.device} has no bf16 arithmetic: bf16 is emulated here, many times "
                              "slower than fp32 (--precision fp32)")

        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.model = CharRNN(model_config).to(self.device)
        self.optimizer = make_optimizer(self.model, cfg)
        self.pos = Position()
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
                self.pos.total_steps = max(1, math.ceil(cfg.epochs * self.streams.windows_per_epoch))

    # -- checkpoints -------------------------------------------------------------------------

    def _payload(self, resumable: bool) -> dict[str, Any]:
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
        }
        if resumable:
            payload["resume"] = {
                "optimizer": self.optimizer.state_dict(),
                "state": [s.detach().cpu().clone() for s in self.state],
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                "python_rng": random.getstate(),
            }
        return payload

    def _restore(self, payload: dict[str, Any]) -> None:
        self.model.load_state_dict(payload["weights"])
        resume = payload["resume"]
        self.optimizer.load_state_dict(resume["optimizer"])
        self.pos = Position(**payload["position"])
        self.state = tuple(s.to(self.device) for s in resume["state"])
        torch.set_rng_state(resume["torch_rng"])
        if resume["cuda_rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(resume["cuda_rng"])
        random.setstate(resume["python_rng"])

    def _save(self, name: str, last_saved: int | None) -> None:
        try:
            save_checkpoint(self.run_dir / name, self._payload(resumable=name == runs.LATEST))
        except OSError as e:
            intact = (f"the checkpoint from step {last_saved} is intact" if last_saved is not None
                      else "no checkpoint had been saved yet")
            raise ChargenError(f"{describe_os_error(e)} while saving step {self.pos.step} to "
                               f"{self.run_dir / name}; {intact}") from None

    def _rollback(self) -> str:
        """Return to the last saved checkpoint with half the learning rate, after a divergence."""
        path = self.run_dir / runs.LATEST
        rollbacks, scale = self.pos.rollbacks + 1, self.pos.lr_scale * 0.5
        if rollbacks > MAX_ROLLBACKS or not path.is_file():
            raise ChargenError(
                f"training diverged: the loss stayed NaN/infinite at step {self.pos.step} even after "
                f"{MAX_ROLLBACKS} rollbacks with lower learning rates; lower --lr or --grad-clip"
            )
        self._restore(load_checkpoint(path))
        self.pos.rollbacks, self.pos.lr_scale = rollbacks, scale
        return (f"loss was not finite for {BAD_STEPS_BEFORE_ROLLBACK} steps; rolled back to step "
                f"{self.pos.step} with the learning rate scaled by {scale:g}")

    # -- the loop ----------------------------------------------------------------------------

    def sampler(self, temperature: float = 0.8, seed: int | None = None) -> Sampler:
        """A sampler over the current weights, with its own generator: training randomness is untouched."""
        step_model = StepModel(self.model_config, self.model.state_dict())
        return Sampler(step_model, self.corpus.vocab, SamplingSettings(temperature), seed=seed)

    def preview(self, length: int = 160) -> str:
        sampler = self.sampler(seed=self.cfg.seed + self.pos.step)
        return "".join(chars[0] for chars in sampler.stream(length))

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> Iterator[Report]:
        runs.ensure_writable(self.run_dir)
        with runs.RunLock(self.run_dir):
            removed = remove_orphans(self.run_dir)
            if removed:
                self.notes.append(f"removed {len(removed)} temporary file(s) left by an interrupted save")
            yield from self._loop(should_stop)

    def _train_step(self, params: list[torch.nn.Parameter]) -> tuple[float, bool]:
        """One window: forward, backward, clip, update. Returns (loss, whether the update was applied)."""
        cfg, pos = self.cfg, self.pos
        x, y = self.streams.window(pos.epoch, pos.window)
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        loss, state = forward_loss(self.model, x, y, self.state, cfg.precision)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
        loss_value = loss.item()
        if not (math.isfinite(loss_value) and math.isfinite(grad_norm.item())):
            # Skip the update: non-finite numbers must never reach the weights. A carried state
            # that blew up would poison every later window, so it starts afresh.
            self.state = self.model.init_state(cfg.batch_size, self.device)
            return loss_value, False
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(pos.step, pos.total_steps, cfg, pos.lr_scale)
        self.optimizer.step()
        self.state = detach_state(state)
        return loss_value, True

    def _advance(self) -> None:
        pos = self.pos
        pos.step += 1
        pos.window += 1
        if pos.window >= self.streams.windows_per_epoch:
            pos.epoch, pos.window = pos.epoch + 1, 0
            self.state = self.model.init_state(self.cfg.batch_size, self.device)

    def _loop(self, should_stop: Callable[[], bool]) -> Iterator[Report]:
        cfg = self.cfg
        runs.write_config(self.run_dir, {"model": asdict(self.model_config), "train": asdict(cfg),
                                         "corpus": {"sources": list(self.corpus.sources), "sha256": self.corpus.sha256,
                                                    "chars": len(self.corpus), "vocab_size": self.corpus.vocab.size}})
        if self.resumed_from is not None:
            runs.trim_metrics(self.run_dir, self.pos.step)
        yield Started(self.run_dir, self.resumed_from, count_parameters(self.model), str(self.device),
                      len(self.train_ids), len(self.val_ids) if cfg.val_fraction else 0, self.notes)

        chars_per_step = cfg.batch_size * cfg.seq_len
        budget = Budget(self, self.minutes) if self.minutes is not None else None
        last_saved = self.pos.step if self.resumed_from is not None else None
        params = list(self.model.parameters())
        loss_sum, loss_count, bad_in_row = 0.0, 0, 0
        reason = "done"
        start_step = self.pos.step
        rate, rate_t, rate_step = 0.0, clock(), start_step
        segment_start = rate_t

        while self.pos.total_steps is None or self.pos.step < self.pos.total_steps:
            loss_value, applied = self._train_step(params)
            if applied:
                loss_sum, loss_count, bad_in_row = loss_sum + loss_value, loss_count + 1, 0
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
            if budget is not None and (note := budget.after_step(now)):
                yield Note(note)
            if now - rate_t > 2.0 or pos.step == start_step + 1:
                rate = (pos.step - rate_step) * chars_per_step / max(now - rate_t, 1e-9)
                rate_t, rate_step = now, pos.step
            yield Step(pos.step, pos.total_steps, pos.epoch + pos.window / self.streams.windows_per_epoch,
                       loss_value, learning_rate(pos.step - 1, pos.total_steps, cfg, pos.lr_scale), rate)

            finished = pos.total_steps is not None and pos.step >= pos.total_steps
            out_of_time = budget is not None and now >= budget.deadline
            stop = should_stop()
            save_point = pos.step % cfg.eval_every == 0 or finished or out_of_time
            if save_point and bad_in_row and not stop:
                # Only a healthy state is a save point: a rollback must land before the trouble began.
                yield Note(f"step {pos.step}: not saving while updates are being skipped")
            elif save_point or stop:
                pos.elapsed_s += now - segment_start
                segment_start = now
                if not stop:
                    yield self._evaluate(loss_sum / max(loss_count, 1), last_saved)
                    loss_sum, loss_count = 0.0, 0
                self._save(runs.LATEST, last_saved)
                last_saved = pos.step
                if stop or out_of_time:
                    reason = "interrupted" if stop else "time"
                    break
                resumed_at = clock()
                if budget is not None:
                    budget.after_pause(now, resumed_at)
                rate_t, rate_step = resumed_at, pos.step  # the shown speed is training speed, pauses aside
        else:
            if self.pos.step == start_step and self.resumed_from is not None:
                yield Note(f"the run already reached its {self.pos.total_steps} steps; raise --steps to train more")
        yield Finished(self.pos.step, reason, self.pos.best_val_loss, self.run_dir / runs.LATEST)

    def _evaluate(self, train_loss: float, last_saved: int | None) -> Evaluated:
        cfg, pos = self.cfg, self.pos
        val_loss = None
        if cfg.val_fraction > 0:
            val_loss = evaluate(self.model, self.val_ids, cfg.batch_size, max(cfg.seq_len, 256), self.device)
        metric = val_loss if val_loss is not None else train_loss
        best = pos.best_val_loss is None or metric < pos.best_val_loss
        if best:
            pos.best_val_loss = metric
        preview = self.preview()
        runs.append_metrics(self.run_dir, {
            "step": pos.step, "epoch": round(pos.epoch + pos.window / self.streams.windows_per_epoch, 4),
            "train_loss": train_loss, "val_loss": val_loss, "val_bpc": bits(val_loss) if val_loss is not None else None,
            "lr": learning_rate(max(pos.step - 1, 0), pos.total_steps, cfg, pos.lr_scale),
            "elapsed_s": round(pos.elapsed_s, 3), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        })
        if best:
            self._save(runs.BEST, last_saved)
        return Evaluated(pos.step, val_loss, train_loss, best, preview)


class Budget:
    """Turns a --minutes budget into the run's step count, so the schedule ends when the time does.

    The speed of a few early steps gives the first estimate; every REAIM_EVERY steps it is re-aimed
    from the speed measured so far and the measured cost of evaluating, since a shared machine's
    speed drifts (and a busy start would otherwise cut the run short).
    """

    REAIM_EVERY = 50

    def __init__(self, trainer: Trainer, minutes: float) -> None:
        self.trainer = trainer
        self.start = clock()
        self.deadline = self.start + minutes * 60
        self.minutes = minutes
        self.start_step = trainer.pos.step
        self.paused_s, self.pauses = 0.0, 0
        self._mark: tuple[int, float] | None = None

    def after_step(self, now: float) -> str | None:
        pos = self.trainer.pos
        done = pos.step - self.start_step
        if pos.total_steps is None:
            if done == CALIBRATION_STEPS[0]:
                self._mark = (pos.step, now)
            elif done >= CALIBRATION_STEPS[1] and self._mark is not None:
                per_step = (now - self._mark[1]) / (pos.step - self._mark[0])
                pos.total_steps = self._aim(per_step, now)
                cfg = self.trainer.cfg
                return (f"measured {cfg.batch_size * cfg.seq_len / per_step:,.0f} chars/s: {self.minutes:g} "
                        f"minutes is about {pos.total_steps - self.start_step:,} steps")
        elif done % self.REAIM_EVERY == 0 and pos.step < pos.total_steps:
            pos.total_steps = self._aim((now - self.start - self.paused_s) / done, now)
        return None

    def after_pause(self, paused_at: float, resumed_at: float) -> None:
        """Count the time an evaluation and save took: it is not training time, and it will recur."""
        self.paused_s += resumed_at - paused_at
        self.pauses += 1

    def _aim(self, seconds_per_step: float, now: float) -> int:
        """The step at which the budget runs out, counting the evaluations on the way."""
        t = self.trainer
        cfg = t.cfg
        if self.pauses:
            eval_s = self.paused_s / self.pauses
        else:  # not measured yet: a forward pass over the validation text, ~0.4 of a step's work
            val_windows = len(t.val_ids) / (cfg.batch_size * cfg.seq_len) if cfg.val_fraction else 0.0
            eval_s = val_windows * seconds_per_step * 0.4
        per_step = seconds_per_step + eval_s / cfg.eval_every
        steps_left = max(1, int(0.98 * (self.deadline - now - eval_s) / per_step))
        return t.pos.step + steps_left


# -- starting and resuming runs -------------------------------------------------------------------

# Options that may differ on resume: how long to go on, and where, how verbosely and in what arithmetic to run.
RESUME_FREE = {*LENGTH_OPTIONS, "eval_every", "device", "precision"}


def new_trainer(
    corpus_paths: list[str],
    model_options: dict[str, Any],
    train: TrainConfig | dict[str, Any],
    run_dir: Path,
    *,
    encoding: str = "utf-8",
    max_vocab: int | None = None,
    progress=None,
) -> Trainer:
    """A fresh run in `run_dir` (which must not hold a run yet).

    `model_options` and a `train` dict hold only the options the user chose. A run with a time budget
    (the default) then gets the recipe that suits the budget on this machine for every option left
    unchosen; a full TrainConfig is taken as it is.
    """
    if (run_dir / runs.LATEST).exists() or (run_dir / runs.BEST).exists():
        raise ChargenError(f"run {run_dir} already exists; continue it with --resume {run_dir.name} or pick another --name")
    runs.ensure_writable(run_dir.parent)
    chosen = dict(train) if isinstance(train, dict) else None
    cfg = TrainConfig(**chosen) if chosen is not None else train
    if all(getattr(cfg, n) is None for n in LENGTH_OPTIONS):
        cfg = replace(cfg, minutes=DEFAULT_MINUTES)
    extra = {"max_vocab": max_vocab} if max_vocab is not None else {}
    corpus = load_corpus(corpus_paths, encoding=encoding, progress=progress, **extra)
    notes = []
    if chosen is not None and cfg.minutes is not None:
        from chargen import recipe

        device = resolve_device(cfg.device)
        precisions = [chosen["precision"]] if "precision" in chosen else usable_precisions(device)
        picked = recipe.plan(cfg.minutes, corpus.vocab.size, device, precisions, model_options.get("cell", "lstm"),
                             int(len(corpus) * (1 - cfg.val_fraction)))
        model_options = {**picked.model, **model_options}
        cfg = replace(cfg, **{k: v for k, v in picked.train.items() if k not in chosen})
        notes.append(f"recipe: {picked.why} (options you give explicitly take precedence)")
    model_config = ModelConfig(vocab_size=corpus.vocab.size, **model_options)
    trainer = Trainer(run_dir, corpus, model_config, cfg)
    trainer.notes.extend(notes)
    return trainer


def resume_trainer(
    run_dir: Path,
    overrides: dict[str, Any],
    *,
    corpus_paths: list[str] | None = None,
    encoding: str | None = None,
    allow_corpus_change: bool = False,
    progress=None,
) -> Trainer:
    """Continue the run in `run_dir` from its latest checkpoint, exactly.

    `overrides` holds only options the user gave explicitly; any that would change the model or the
    training recipe is refused, naming both values, since it would silently break the continuation.
    """
    payload = load_checkpoint(run_dir / runs.LATEST) if (run_dir / runs.LATEST).is_file() else None
    if payload is None or "resume" not in payload:
        raise ChargenError(f"run {run_dir} has no resumable checkpoint ({runs.LATEST}); start it afresh instead")
    model_config = ModelConfig(**payload["model_config"])
    saved_cfg = TrainConfig(**payload["train_config"])
    conflicts = []
    for name, value in overrides.items():
        if name in RESUME_FREE:
            continue
        saved = getattr(model_config, name, getattr(saved_cfg, name, None))
        if value != saved:
            conflicts.append(f"--{name.replace('_', '-')} {value} (the run has {saved})")
    if conflicts:
        raise ChargenError(f"cannot resume {run_dir.name} with different settings: {'; '.join(conflicts)}; "
                           "drop those options or start a new run")
    length = {n: overrides[n] for n in LENGTH_OPTIONS if overrides.get(n) is not None}
    cfg = replace(saved_cfg, **{**{n: None for n in LENGTH_OPTIONS}, **length}) if length else saved_cfg
    for name in RESUME_FREE.difference(LENGTH_OPTIONS):
        if name in overrides:
            cfg = replace(cfg, **{name: overrides[name]})

    saved_corpus = payload["corpus"]
    vocab = Vocab(payload["vocab"])
    paths = corpus_paths or saved_corpus["sources"]
    if not corpus_paths and (gone := [p for p in paths if not Path(p).is_file()]):
        raise ChargenError(f"the run's corpus {gone[0]} is gone; name the corpus again: "
                           f"chargen train CORPUS --resume {run_dir.name}")
    enc = encoding or saved_corpus["encoding"]
    corpus = load_corpus(paths, encoding=enc, vocab=vocab, progress=progress)
    if corpus.sha256 != saved_corpus["sha256"] and not allow_corpus_change:
        raise ChargenError(
            f"the corpus changed since step {payload['position']['step']} "
            f"({saved_corpus['chars']:,} chars, sha256 {saved_corpus['sha256'][:12]} -> {len(corpus):,} chars, "
            f"sha256 {corpus.sha256[:12]}); pass --allow-corpus-change to continue on the new text"
        )
    minutes_extra = length.get("minutes")
    if "steps" in length:
        payload["position"]["total_steps"] = length["steps"]
    elif "epochs" in length:
        windows = Streams(corpus.split(cfg.val_fraction)[0], cfg.batch_size, cfg.seq_len).windows_per_epoch
        payload["position"]["total_steps"] = max(1, math.ceil(length["epochs"] * windows))
    return Trainer(run_dir, corpus, model_config, cfg, resume=payload, minutes_extra=minutes_extra)

