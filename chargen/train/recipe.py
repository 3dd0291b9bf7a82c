"""Choose the model and training recipe that make the best text in a wall-clock budget on this machine.

What wins depends on how many characters the budget lets the machine read, and with which model: the
speed is measured, not guessed (a few real training steps on the chosen device, in fp32 and, where the
hardware has it, bf16). Measured across corpora (README, Benchmarks; bench/quality.py --suite):

- Width. The best model is the widest one the budget can feed: one that reads at least
  CHARS_PER_WEIGHT characters per recurrent weight it has. On a 2-core CPU that is a 2x256 LSTM for
  2.5 and 5 minutes and 2x384 for 10; a GPU feeds much wider ones. A text that is small next to the
  model (MAX_WEIGHTS_PER_CHAR) caps the width, and so does an alphabet of thousands of characters,
  whose output layer costs time like the rest of the model (it is counted in the speed, not in what
  must be fed: it learns which characters follow, the recurrent weights learn the context).
- Learning rate. High for short budgets, lower for wider models.
- Dropout. The more passes over the text the run makes, the more of it, so that a model that
  reads a small text many times does not learn it by heart; and some even in one pass where the
  validation text is unlike the training text (chargen.data.shift), which dropout helps a model across.
- Passes. Past MAX_PASSES, even with dropout, a small text is learned by heart and more time only
  makes the text worse, so the run stops there, early.
- Batch. On a CPU, 32 streams of 64 characters. A GPU reads far faster with more streams (a
  recurrence is a chain of small steps, and 32 streams leave it mostly idle), but more streams make
  fewer updates per character. So on a GPU the recipe measures the speed at GPU_BATCHES: a text that
  the budget would read more than MAX_PASSES times gets the fewest streams that still read it
  MAX_PASSES times in the time (on tinyshakespeare the H100's best validation loss came after 8 passes
  even with dropout 0.5 on a 3x1024 LSTM, and more passes only memorised it: README, GPU); a larger
  text gets the fewest streams that reach GPU_BATCH_SHARE of the fastest speed. The precision is then
  measured on the model chosen. The learning rate grows with the square root of the batch, and a
  batch the user chose is timed as it will run.
- Evaluations. Together they take about EVAL_SHARE of the budget. Each reads the whole validation
  text unless that would leave time for fewer than MIN_EVALS: then each reads a part of it, spans
  spread over all of it (--eval-chars), so that a large text's evaluations do not eat the budget.

Options the user gave explicitly always win, and the rest is chosen to suit them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from chargen.config import ModelConfig, TrainConfig
from chargen.model.device import set_arithmetic
from chargen.errors import ChargenError
from chargen.train.loss import forward_loss
from chargen.model.charrnn import CharRNN
from chargen.train.optim import make_optimizer

BATCH = {"batch_size": 32, "seq_len": 64}
GPU_BATCHES = (32, 64, 128, 256, 512, 1024)  # streams tried on a GPU
GPU_BATCH_SHARE = 0.5  # the smallest of them that reaches this share of the fastest one's speed is taken
REFERENCE = (2, 256)  # (layers, width): the model every budget's speed is measured with first
# Candidate models, smallest first; the recipe takes the largest the budget can feed.
SIZES = ((2, 128), (2, 192), (2, 256), (2, 384), (2, 512), (2, 768), (3, 768), (3, 1024))
# A model is worth its size when the budget reads this many characters per recurrent weight (the speed
# being the probe's, before evaluations). Fitted on the benchmark's grids (README, Benchmarks): at 1 per
# weight of the whole model the next narrower model did better at 2.5 and 5 minutes on tinyshakespeare
# and large-prose (large-prose at 5 minutes: 2x256 1.6612, the 2x384 chosen 1.7006); at 3, the defaults
# at 5 minutes gained 0.012-0.054 nats on tinyshakespeare, large-prose and python-code, and at 10
# minutes a 2x384 reading 2.3-2.7 per recurrent weight was level with a 2x256 on large-prose.
CHARS_PER_WEIGHT = 3.0
MAX_WEIGHTS_PER_CHAR = 10.0  # and no model has more weights than this many per character of training text
EVAL_SHARE = 0.05  # evaluations take about this share of the budget
EVAL_SPEEDUP = 3.0  # evaluating a character costs about a third of training on it (forward pass only)
MAX_EVALS = 10
# Below this many evaluations a large validation text is read in part: one whole evaluation of 23 MB of
# prose's 2.3M validation characters took 70 s of a 5-minute budget (bench/quality.py --corpus large-prose).
MIN_EVALS = 4
MIN_EVAL_CHARS = 100_000  # and never less than about this: tinyshakespeare's whole validation text
# Past this many passes over the training text (as the recipe plans them) the validation loss rises
# whatever the dropout: on 110K characters of verse (bench/quality.py --corpus small-verse), a 2.5-minute
# run with dropout 0.2 stopped at 20 passes was best after 8 and ended 0.11 nats worse (1.7513 against
# 1.6414); stopped at 10 it ended at 1.6213, and 5 minutes at 1.6168. (Before the output bias started
# at the character frequencies, learning was slower and the best came after 16-17 passes.)
MAX_PASSES = 10.0
# A validation text this many nats per character harder than the training text's end for a bigram model
# (chargen.data.shift) gets SHIFT_DROPOUT however few the passes. python-code's (+0.32) gained 0.041 nats at
# 2.5 minutes with dropout 0.1 (1.7460 against 1.7873, 2x256, bench/quality.py --corpus python-code),
# where tinyshakespeare (+0.01) lost 0.013, cantonese (-0.02) 0.096 and large-prose (+0.01) 0.046 (in a
# slower run: 1,134 steps against 1,546); step for step C++ headers (-0.05) lost 0.009. The one other
# shifted text measured, a novel after speeches (+0.29), lost 0.011 (1.9475 against 1.9361): within
# what the rule may cost, against python-code's gain.
SHIFT_FOR_DROPOUT = 0.2
SHIFT_DROPOUT = 0.1
# bf16 must beat fp32 by this much to be chosen, so that measurement noise never picks it for nothing.
BF16_MIN_SPEEDUP = 1.2
FINE_TUNE = {"lr": 2e-3, "warmup_steps": 20}  # from a trained model: bench/finetune.py (5e-4 to 3e-3 within 0.02)


@dataclass(frozen=True)
class Recipe:
    model: dict  # ModelConfig options
    train: dict  # TrainConfig options
    why: str  # one line for the log
    size: tuple[int, int] = REFERENCE  # (layers, width) chosen
    stops_early: bool = False  # the run stops after MAX_PASSES over a text too small for the budget


def measure_speed(vocab_size: int, device: torch.device, precision: str, model: dict, batch: dict = BATCH,
                  steps: int = 6) -> float:
    """Characters per second of full training steps of `model` (after one warm-up step)."""
    torch.manual_seed(0)
    set_arithmetic(precision, device)
    net = CharRNN(ModelConfig(vocab_size=vocab_size, **model)).to(device)
    opt = make_optimizer(net, TrainConfig())
    B, T = batch["batch_size"], batch["seq_len"]
    x = torch.randint(0, vocab_size, (B, T), device=device)

    def step() -> None:
        loss, _ = forward_loss(net, x, x, precision=precision)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * B * T / (time.perf_counter() - start)


def measure_speeds(vocab_size: int, device: torch.device, precisions: list[str], model: dict,
                   batch: dict = BATCH) -> dict[str, float]:
    """{precision: chars/s} of `model` at `batch`, for those of `precisions` that run here.

    A precision that fails (no bf16 kernel for this cell on this device, say) is left out; if it was
    the only one asked for, that is the user's error to hear about.
    """
    speeds = {}
    for precision in precisions:
        try:
            speeds[precision] = measure_speed(vocab_size, device, precision, model, batch)
        except torch.cuda.OutOfMemoryError:
            raise ChargenError(f"{device} ran out of memory measuring the speed of a {model.get('cell', 'lstm')} "
                               f"{model.get('layers', 2)}x{model.get('hidden_size', 256)}; choose a smaller "
                               "--hidden-size or --layers") from None
        except RuntimeError as e:
            if len(precisions) == 1:
                raise ChargenError(f"--precision {precision} does not run on {device}: {str(e).splitlines()[0]}") from None
    return speeds


def pick_precision(speeds: dict[str, float]) -> str:
    """bf16 when it is clearly faster (step for step it learns as well as fp32: README, Benchmarks)."""
    if "fp32" in speeds and speeds.get("bf16", 0.0) < BF16_MIN_SPEEDUP * speeds["fp32"]:
        return "fp32"
    return max(speeds, key=speeds.get)


@dataclass(frozen=True)
class Task:
    """What a recipe is for: the training text and how the run is set up."""

    vocab_size: int
    train_chars: int  # characters of training text
    val_chars: int = 0  # characters of validation text, each evaluation reads them all
    cell: str = "lstm"
    world: int = 1  # processes training together; each is taken to run at the measured speed
    item_chars: float | None = None  # line mode: the mean characters an item takes, its end included
    parent: dict | None = None  # fine-tuning (--init-from): the parent's model options, which are kept
    fixed: dict = field(default_factory=dict)  # model options the user chose (layers, hidden_size, ...)
    eval_chars: int | None = None  # --eval-chars as the user gave it; None: the recipe chooses
    val_shift: float = 0.0  # nats/char by which the validation text is harder than the training text (chargen.data.shift)
    batch: dict = field(default_factory=dict)  # what the user chose of each process's batch_size and seq_len


def weights(task: Task, layers: int, width: int) -> int:
    """Weights a model multiplies for every character: what it costs to train."""
    return _config(task, layers, width).matmul_params()


def recurrent_weights(task: Task, layers: int, width: int) -> int:
    """Weights of the recurrent layers: what the training text must feed."""
    return _config(task, layers, width).recurrent_params()


def _config(task: Task, layers: int, width: int) -> ModelConfig:
    return ModelConfig(vocab_size=task.vocab_size, cell=task.cell, layers=layers, hidden_size=width)


def plan(minutes: float, task: Task, device: torch.device, precisions: list[str]) -> Recipe:
    """Measure this machine, then choose: the recipe for `minutes` of training on `task`."""
    model = task.parent or {"cell": task.cell, "layers": REFERENCE[0], "hidden_size": REFERENCE[1]}
    batch = {**BATCH, **task.batch}  # what each process reads a step, as it will be trained
    speeds = {p: s * task.world for p, s in measure_speeds(task.vocab_size, device, precisions, model, batch).items()}
    precision = pick_precision(speeds)

    def measure_at(precision: str, streams: int, shape: dict) -> float:
        return task.world * measure_speed(task.vocab_size, device, precision, shape, dict(batch, batch_size=streams),
                                          steps=3)

    fits = [b for b in GPU_BATCHES if b * batch["seq_len"] < task.train_chars]
    if device.type != "cuda" or task.item_chars or task.parent or "batch_size" in task.batch or len(fits) < 2:
        # The user's streams are each process's; the recipe's (BATCH) are the whole job's, shared out.
        job = dict(batch, batch_size=batch["batch_size"] * task.world) if "batch_size" in task.batch else batch
        return choose(minutes, speeds, task, sized(measure_at, task, precision, batch["batch_size"]), job)
    return plan_gpu(minutes, task, speeds, fits, measure_at)


def sized(measure_at: Callable[[str, int, dict], float], task: Task, precision: str,
          streams: int) -> Callable[[int, int], float]:
    """`measure_at(precision, streams, shape)` as `choose` asks for it: chars/s of a (layers, width)."""
    return lambda layers, width: measure_at(precision, streams, {"cell": task.cell, "layers": layers,
                                                                  "hidden_size": width})


def plan_gpu(minutes: float, task: Task, speeds: dict[str, float], batches: list[int],
             measure_at: Callable[[str, int, dict], float]) -> Recipe:
    """The batch for a GPU, then the precision that is fastest for the model chosen at that batch.

    A text that the budget reads MAX_PASSES times over is learned best with many small updates: the
    fewest streams that still read it that often in the time. Otherwise the run is limited by speed,
    and the fewest streams reaching GPU_BATCH_SHARE of the fastest speed balance the two.
    """
    precision = pick_precision(speeds)
    reference = {"cell": task.cell, "layers": REFERENCE[0], "hidden_size": REFERENCE[1]}
    by_batch = {b: measure_at(precision, b, reference) for b in batches}
    knee = pick_batch(by_batch)

    def at(b: int, precision: str, speeds: dict[str, float]) -> Recipe:
        scaled = {p: s * by_batch[b] / by_batch[batches[0]] for p, s in speeds.items()}
        return choose(minutes, scaled, task, sized(measure_at, task, precision, b), dict(BATCH, batch_size=b))

    for b in batches:
        recipe = at(b, precision, speeds)
        if recipe.stops_early or b >= knee:
            break
    why = (f"the fewest streams that read the text {MAX_PASSES:g} times in the time" if recipe.stops_early else
           f"the fewest streams that read at {GPU_BATCH_SHARE:g} of the fastest speed")
    # Precisions differ little on the small reference model; measure them on the model chosen.
    shape = {"cell": task.cell, "layers": recipe.size[0], "hidden_size": recipe.size[1]}
    at_size = {p: measure_at(p, b, shape) for p in speeds}
    best = pick_precision(at_size)
    if best != precision:
        # The reference model's speed in each precision, estimated from the ratios at the chosen size.
        speeds = {p: speeds[precision] * at_size[p] / at_size[precision] for p in speeds}
        recipe = at(b, best, speeds)
    return replace(recipe, why=f"{recipe.why}; {b} streams: {why} on this GPU")


def pick_batch(speeds: dict[int, float]) -> int:
    """The fewest streams ({streams: chars/s}) that read at GPU_BATCH_SHARE of the fastest speed."""
    fastest = max(speeds.values())
    return min(b for b, s in speeds.items() if s >= GPU_BATCH_SHARE * fastest)


def pick_size(seconds: float, reference_speed: float, task: Task,
              measure: Callable[[int, int], float] | None) -> tuple[int, int, float]:
    """(layers, width, chars/s): the largest model the budget can feed, its speed measured where it can be."""
    ref_weights = weights(task, *REFERENCE)

    def estimate(size: tuple[int, int]) -> float:  # speed falls with the weights, a little slower than they grow
        return reference_speed * (ref_weights / weights(task, *size)) ** 0.85

    def fed(size: tuple[int, int], speed: float) -> bool:
        return (speed * seconds >= CHARS_PER_WEIGHT * recurrent_weights(task, *size)
                and weights(task, *size) <= MAX_WEIGHTS_PER_CHAR * max(task.train_chars, 1))

    candidates = [s for s in SIZES if fed(s, estimate(s))] or [SIZES[0]]
    for size in reversed(candidates):  # the largest first; measured, it may turn out too slow
        speed = reference_speed if size == REFERENCE else measure(*size) if measure else estimate(size)
        if fed(size, speed) or size == candidates[0]:
            return size[0], size[1], speed
    raise AssertionError("the smallest candidate is always taken")


def choose(minutes: float, speeds: dict[str, float], task: Task,
           measure: Callable[[int, int], float] | None = None, batch: dict = BATCH) -> Recipe:
    """The recipe for `minutes` from the reference model's measured speeds ({precision: chars/s});
    `measure(layers, width)` times another model (without it, speeds are estimated from the reference's);
    speeds and `measure` are at `batch`, the streams and window a step reads.
    The batch chosen is the whole job's; with several processes each takes its share of the streams.
    In line mode a step reads whole items: as many as make the characters a step of streams would."""
    precision = pick_precision(speeds)
    seconds = minutes * 60
    fixed = task.fixed
    if task.parent is not None:
        layers, width, speed = task.parent["layers"], task.parent["hidden_size"], speeds[precision]
        how = "the parent's model"
    elif "layers" in fixed or "hidden_size" in fixed:
        layers, width = fixed.get("layers", REFERENCE[0]), fixed.get("hidden_size", REFERENCE[1])
        same = (layers, width) == REFERENCE
        speed = speeds[precision] if same else measure(layers, width) if measure else speeds[precision] * (
            weights(task, *REFERENCE) / weights(task, layers, width)) ** 0.85
        how = "the model you chose"
    else:
        layers, width, speed = pick_size(seconds, speeds[precision], task, measure)
        how = f"the widest model that reads {CHARS_PER_WEIGHT:g}+ characters per recurrent weight"
    readable = speed * seconds  # characters the model can read in the budget
    passes = readable / max(task.train_chars, 1)
    # Measured on text only: in line mode the speed probe overestimates what a step of short items
    # reads, and cutting a list of names at 20 planned passes stopped it at 12, 0.09 nats short.
    stop_early = (passes > MAX_PASSES and how.startswith("the widest") and "dropout" not in fixed
                  and not task.item_chars)
    budget, seconds = (readable, seconds) if not stop_early else (
        readable * MAX_PASSES / passes, seconds * MAX_PASSES / passes)  # what the run will read, in how long
    read_passes = MAX_PASSES if stop_early else passes  # the passes the run will make
    dropout = 0.3 if read_passes >= 25 else 0.2 if read_passes >= 10 else 0.1 if read_passes >= 5 else 0.0
    shifted = task.val_shift >= SHIFT_FOR_DROPOUT and dropout < SHIFT_DROPOUT
    if shifted:
        dropout = SHIFT_DROPOUT
    model = {**(task.parent or {}), "cell": task.cell, "layers": layers, "hidden_size": width, "dropout": dropout}
    if task.parent is not None:
        train = dict(batch, lr=FINE_TUNE["lr"], warmup_steps=FINE_TUNE["warmup_steps"], min_lr_ratio=0.1)
    else:
        # A few million characters learn fastest at a high rate; wider models want a lower one, and
        # larger batches (less noisy gradients) a higher one.
        base = 5e-3 if budget < 5e6 else 4e-3
        lr = base * 256 / width * math.sqrt(batch["batch_size"] / BATCH["batch_size"])
        train = dict(batch, lr=round(min(lr, 8e-3), 6), min_lr_ratio=0.02)
    train["precision"] = precision
    if stop_early:
        train["minutes"] = round(max(seconds, 1.0) / 60, 3)  # a text of a few lines: a second, never zero
    chars_per_step = train["batch_size"] * train["seq_len"]
    if task.item_chars:
        train["batch_size"] = max(1, round(chars_per_step / task.item_chars))
    steps = max(1, budget / chars_per_step)
    read = min(task.eval_chars or task.val_chars, task.val_chars)  # what an evaluation reads
    eval_s = read / (EVAL_SPEEDUP * speed)
    slot = EVAL_SHARE * seconds / MIN_EVALS  # the time each of the fewest evaluations may take
    part = max(MIN_EVAL_CHARS, int(slot * EVAL_SPEEDUP * speed))
    if task.eval_chars is None and eval_s > slot and part <= task.val_chars / 2:
        train["eval_chars"] = part
        eval_s = part / (EVAL_SPEEDUP * speed)
    evals = max(1, min(MAX_EVALS, int(EVAL_SHARE * seconds / eval_s))) if eval_s else MAX_EVALS
    train["eval_every"] = max(50, math.ceil(steps / evals))
    batch = train["batch_size"]
    train["batch_size"] = max(1, round(batch / task.world))

    if precision == "bf16" and "fp32" in speeds:
        arithmetic = f"bf16 autocast ({speeds['bf16'] / speeds['fp32']:.1f}x the fp32 speed)"
    else:
        arithmetic = precision
    shares = f" ({task.world} processes of {train['batch_size']})" if task.world > 1 else ""
    shape = f"{batch} items{shares}" if task.item_chars else f"{batch}{shares} x {train['seq_len']}"
    unlike = (f" (the validation text is unlike the training text: {task.val_shift:+.2f} nats/char for a bigram "
              "model)") if shifted else ""
    why = (f"{minutes:g} minutes at {speed:,.0f} chars/s in {arithmetic} is about {readable / 1e6:,.1f}M characters "
           f"({passes:,.1f} passes over the training text): {how}, {task.cell} {layers}x{width}, dropout "
           f"{model['dropout']:g}{unlike}, batch {shape}, lr {train['lr']:g}, an evaluation every "
           f"{train['eval_every']:,} steps")
    if "eval_chars" in train:
        why += f" reading {train['eval_chars']:,} of the {task.val_chars:,} validation characters"
    if stop_early:
        why += (f"; a text this small is learned by heart after about {MAX_PASSES:g} passes, so training stops "
                f"after {seconds / 60:.1f} of the {minutes:g} minutes")
    return Recipe({k: v for k, v in model.items() if k not in fixed}, train, why, (layers, width), stop_early)
