"""Choose the model and training recipe that make the best text in a wall-clock budget on this machine.

These are the rules, free of torch; chargen.train.measure times the machine and hands them its speeds.
What wins depends on how many characters the budget lets the machine read, and with which model: the
speed is measured, not guessed (a few real training steps on the chosen device, in fp32 and, where the
hardware has it, bf16). Measured across corpora (docs/benchmarks.md; python -m bench.quality --suite):

- Width. The best model is the widest one the budget can feed: one that reads at least
  CHARS_PER_WEIGHT characters per recurrent weight it has, or HELD_BACK_CHARS_PER_WEIGHT where the
  run presses it hard enough to hold it back with the most dropout and weight decay. On a 2-core CPU
  that is a 2x256 LSTM for 2.5 and 5 minutes and 2x384 for 10 (2x512 on tinyshakespeare); a GPU
  feeds much wider ones. A text that is small next to the
  model (MAX_WEIGHTS_PER_CHAR) caps the width, and so does an alphabet of thousands of characters,
  whose output layer costs time like the rest of the model (it is counted in the speed, not in what
  must be fed: it learns which characters follow, the recurrent weights learn the context).
- Learning rate. High for short budgets, lower for wider models.
- Dropout. The more the run presses its model to learn the text by heart, the more of it: the passes
  it makes times the recurrent weights the model has per character of text (DROPOUT_EXPOSURE), so
  that a wide model is held back sooner than a narrow one on the same text; and some even in one pass
  where the validation text is unlike the training text (chargen.data.shift), which dropout helps a
  model across. Wherever the passes bring dropout, weight decay on the matrices too, and a higher
  learning rate with it (DECAY_EXPOSURE).
- Passes. Past MAX_PASSES, even with dropout, a small text is learned by heart and more time only
  makes the text worse, so the run stops there, early.
- Batch. On a CPU, 32 streams of 64 characters. A GPU reads far faster with more streams (a
  recurrence is a chain of small steps, and 32 streams leave it mostly idle), but more streams make
  fewer updates per character. So on a GPU the recipe measures the speed at GPU_BATCHES: a text that
  the budget would read more than MAX_PASSES times gets the fewest streams that still read it
  MAX_PASSES times in the time (on tinyshakespeare the H100's best validation loss came after 8 passes
  even with dropout 0.5 on a 3x1024 LSTM, and more passes only memorised it: python -m bench.gpu); a larger
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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chargen.config import ModelConfig

if TYPE_CHECKING:  # plans reads this module's SAME_MACHINE
    from chargen.train.plans import Pace

BATCH = {"batch_size": 32, "seq_len": 64}
GPU_BATCHES = (32, 64, 128, 256, 512, 1024)  # streams tried on a GPU
GPU_BATCH_SHARE = 0.5  # the smallest of them that reaches this share of the fastest one's speed is taken
REFERENCE = (2, 256)  # (layers, width): the model every budget's speed is measured with first
# Candidate models, smallest first; the recipe takes the largest the budget can feed.
SIZES = ((2, 128), (2, 192), (2, 256), (2, 384), (2, 512), (2, 768), (3, 768), (3, 1024))
# A model is worth its size when the budget reads this many characters per recurrent weight (the speed
# being the probe's, before evaluations). Fitted on the benchmark's grids (docs/benchmarks.md): at 1 per
# weight of the whole model the next narrower model did better at 2.5 and 5 minutes on tinyshakespeare
# and large-prose (large-prose at 5 minutes: 2x256 1.6612, the 2x384 chosen 1.7006); at 3, the defaults
# at 5 minutes gained 0.012-0.054 nats on tinyshakespeare, large-prose and python-code, and at 10
# minutes a 2x384 reading 2.3-2.7 per recurrent weight was level with a 2x256 on large-prose.
CHARS_PER_WEIGHT = 3.0
# A model the run will press hard enough to get the most dropout (HELD_BACK_EXPOSURE) is fed from
# fewer: on tinyshakespeare at 10 minutes a 2x512 with dropout 0.3 and weight decay 0.1 read 2.0-2.3 characters
# per recurrent weight (3,057 and 3,746 steps on a slow day) and made 1.4188 and 1.4094, where the 2x384 the
# rule above chose (3.1 per weight, 4,890 steps) made 1.4345 (python -m bench.quality, f93a8bd); without weight
# decay, 2x512 d0.3 1.4198 and 1.4200 against 2x384 d0.2 1.4285 and 1.4286.
HELD_BACK_CHARS_PER_WEIGHT = 2.0
MAX_WEIGHTS_PER_CHAR = 10.0  # and no model has more weights than this many per character of training text
EVAL_SHARE = 0.05  # evaluations take about this share of the budget
EVAL_SPEEDUP = 3.0  # evaluating a character costs about a third of training on it (forward pass only)
MAX_EVALS = 10
# Below this many evaluations a large validation text is read in part: one whole evaluation of 23 MB of
# prose's 2.3M validation characters took 70 s of a 5-minute budget (python -m bench.quality --corpus large-prose).
MIN_EVALS = 4
MIN_EVAL_CHARS = 100_000  # and never less than about this: tinyshakespeare's whole validation text
# Past this many passes over the training text (as the recipe plans them) the validation loss rises
# whatever the dropout: on 110K characters of verse (python -m bench.quality --corpus small-verse), a 2.5-minute
# run with dropout 0.2 stopped at 20 passes was best after 8 and ended 0.11 nats worse (1.7513 against
# 1.6414); stopped at 10 it ended at 1.6213, and 5 minutes at 1.6168. (Before the output bias started
# at the character frequencies, learning was slower and the best came after 16-17 passes.)
MAX_PASSES = 10.0
# Dropout 0.1, 0.2, 0.3 from this exposure: passes over the training text times recurrent weights per character
# of it. On tinyshakespeare, all at the 10-pass cap (python -m bench.quality, f21a3d6), a 2x256 (0.85 weights per
# character: exposure 8.5) did best with 0.1 (1.4374 against 1.4496 with 0.2), a 2x384 (1.9: 19) with 0.2
# (1.4286 against 1.4327 with 0.1) and a 2x512 (3.3: 33) with 0.3 (1.4198 against 1.4363 with 0.2, acfd2bc);
# by passes alone, all three had 0.2. Verse (7.7: 77) was level at 0.2 and 0.3 (1.6199, 1.6211), worse at 0.4.
DROPOUT_EXPOSURE = (5.0, 12.0, 25.0)
HELD_BACK_EXPOSURE = DROPOUT_EXPOSURE[2]  # the most dropout: from here a model is fed from fewer (above)
# From the first dropout's exposure AdamW also decays the matrices by WEIGHT_DECAY, and the rate is
# DECAY_LR_SCALE times the width's (AdamW's decay grows with it), capped at MAX_LR. On tinyshakespeare at
# 10 minutes (python -m bench.quality --corpus tinyshakespeare --minutes 10 -- OPTIONS), a 2x512 with
# dropout 0.3 (exposure 33, a6c7ff7) made 1.4094 with 0.1 against 1.4200 without and 1.4393 with 0.5; with
# 0.1 (48d318d) the width's rate, 0.002, made 1.4137, 0.003 1.4115, 0.004 1.4070, 0.006 1.4038 and 0.008
# 1.3917. A 2x256 with dropout 0.1 (exposure 8.5, on a CPU without bf16, 27d53f2) made 1.4314 at its
# width's 0.004 without decay, 1.4122 with 0.1 at 0.008 (1.4019 as the default, 32f66b4), and 1.4781 at
# 0.012 without.
DECAY_EXPOSURE = DROPOUT_EXPOSURE[0]
WEIGHT_DECAY = 0.1
DECAY_LR_SCALE = 4.0
# No recipe's rate is higher: on small-verse (2x256, dropout 0.3, weight decay 0.1, 10 passes, 7b20fa2) 0.008
# made 1.5989, where 0.005 made 1.6148, 0.012 1.6129 and 0.016 1.6074.
MAX_LR = 8e-3
MAX_ITEM_BATCH_SHARE = 0.25  # line mode: a step reads at most this share of the training items
# A validation text this many nats per character harder than the training text's end for a bigram model
# (chargen.data.shift) gets SHIFT_DROPOUT however few the passes. python-code's (+0.32) gained 0.041 nats at
# 2.5 minutes with dropout 0.1 (1.7460 against 1.7873, 2x256, python -m bench.quality --corpus python-code),
# where tinyshakespeare (+0.01) lost 0.013, cantonese (-0.02) 0.096 and large-prose (+0.01) 0.046 (in a
# slower run: 1,134 steps against 1,546); step for step C++ headers (-0.05) lost 0.009. The one other
# shifted text measured, a novel after speeches (+0.29), lost 0.011 (1.9475 against 1.9361): within
# what the rule may cost, against python-code's gain.
SHIFT_FOR_DROPOUT = 0.2
SHIFT_DROPOUT = 0.1
# How far apart one machine's probes of the same model fall: bench/probe.py measured probes of a 2x256 with a coefficient of
# variation of ~0.12 on this 2-core CPU; the log says when a choice was this close to a threshold.
PROBE_SPREAD = 0.3
# And its runs: probes of consecutive runs minutes apart differed by up to 1.51x (python -m bench.stability),
# and one machine's sustained speed varied up to 2x between runs. A probe within this factor of a kept plan's
# for the same task plans from that plan's speeds (chargen.train.plans): it is the same machine, and the same
# command trains the same model.
SAME_MACHINE = 2.0
# bf16 must beat fp32 by this much to be chosen, so that measurement noise never picks it for nothing.
BF16_MIN_SPEEDUP = 1.2
FINE_TUNE = {"lr": 2e-3, "warmup_steps": 20}  # from a trained model: bench/finetune.py (5e-4 to 3e-3 within 0.02)


@dataclass(frozen=True)
class Recipe:
    model: dict  # ModelConfig options
    train: dict  # TrainConfig options
    why: str  # one line for the log
    size: tuple[int, int] = REFERENCE  # (layers, width) chosen
    stops_early: bool = False  # the run stops after MAX_PASSES (train["epochs"]) over a text too small for the budget
    pace: Pace | None = None  # the schedule this plan's last run here trained (chargen.train.plans)


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
    max_passes: float | None = None  # --epochs given with --minutes: the run ends there if the time has not


@dataclass(frozen=True)
class Reading:
    """What the budget lets the model chosen read, and what the run will read of it."""

    speed: float  # chars/s of the model chosen
    readable: float  # characters it can read in the whole budget
    passes: float  # that many passes over the training text
    stops_early: bool  # the run stops after MAX_PASSES
    chars: float  # characters the run will read
    seconds: float  # in how long


def weights(task: Task, layers: int, width: int) -> int:
    """Weights a model multiplies for every character: what it costs to train."""
    return _config(task, layers, width).matmul_params()


def recurrent_weights(task: Task, layers: int, width: int) -> int:
    """Weights of the recurrent layers: what the training text must feed."""
    return _config(task, layers, width).recurrent_params()


def _config(task: Task, layers: int, width: int) -> ModelConfig:
    return ModelConfig(vocab_size=task.vocab_size, cell=task.cell, layers=layers, hidden_size=width)


def estimate_speed(task: Task, reference_speed: float, layers: int, width: int) -> float:
    """chars/s of a (layers, width) from the reference model's: speed falls with the weights, a little
    slower than they grow."""
    return reference_speed * (weights(task, *REFERENCE) / weights(task, layers, width)) ** 0.85


def pick_precision(speeds: dict[str, float]) -> str:
    """bf16 when it is clearly faster (step for step it learns as well as fp32: docs/training.md)."""
    if "fp32" in speeds and speeds.get("bf16", 0.0) < BF16_MIN_SPEEDUP * speeds["fp32"]:
        return "fp32"
    return max(speeds, key=speeds.get)


def pick_batch(speeds: dict[int, float]) -> int:
    """The fewest streams ({streams: chars/s}) that read at GPU_BATCH_SHARE of the fastest speed."""
    fastest = max(speeds.values())
    return min(b for b, s in speeds.items() if s >= GPU_BATCH_SHARE * fastest)


def at_streams(minutes: float, speeds: dict[str, float], task: Task, by_batch: dict[int, float], streams: int,
               measure: Callable[[int, int], float]) -> Recipe:
    """`choose` at `streams` a step: the reference model's `speeds`, measured at the first of `by_batch`
    ({streams: chars/s} of the reference model), scaled along that curve."""
    first = next(iter(by_batch))
    scaled = {p: s * by_batch[streams] / by_batch[first] for p, s in speeds.items()}
    return choose(minutes, scaled, task, measure, dict(BATCH, batch_size=streams))


def pick_gpu_batch(minutes: float, speeds: dict[str, float], task: Task, by_batch: dict[int, float],
                   measure: Callable[[int], Callable[[int, int], float]]) -> tuple[int, Recipe, str]:
    """(streams, its recipe, why) for a GPU, from the reference model's speed at each of `by_batch`, fewest
    first; `measure(streams)` times other models at that many streams.

    A text that the budget reads MAX_PASSES times over is learned best with many small updates: the
    fewest streams that still read it that often in the time. Otherwise the run is limited by speed,
    and the fewest streams reaching GPU_BATCH_SHARE of the fastest speed balance the two.
    """
    knee = pick_batch(by_batch)
    for b in by_batch:
        picked = at_streams(minutes, speeds, task, by_batch, b, measure(b))
        if picked.stops_early or b >= knee:
            why = (f"the fewest streams that read the text {MAX_PASSES:g} times in the time" if picked.stops_early
                   else f"the fewest streams that read at {GPU_BATCH_SHARE:g} of the fastest speed")
            return b, picked, f"{b} streams: {why} on this GPU"
    raise AssertionError("the knee is one of the batches")


def pick_size(seconds: float, reference_speed: float, task: Task,
              measure: Callable[[int, int], float] | None) -> tuple[int, int, float, str]:
    """(layers, width, chars/s, a note when the choice was near a threshold): the largest model the budget
    can feed, its speed measured where it can be."""
    timed: dict[tuple[int, int], float] = {REFERENCE: reference_speed}

    def speed_of(size: tuple[int, int]) -> float:
        return timed.get(size) or estimate_speed(task, reference_speed, *size)

    def fed(size: tuple[int, int], speed: float) -> bool:
        return speed >= feeding_speed(task, size, seconds) and fits(task, size)

    candidates = [s for s in SIZES if fed(s, speed_of(s))] or [SIZES[0]]
    for size in reversed(candidates):  # the largest first; measured, it may turn out too slow
        if size not in timed and measure:
            timed[size] = measure(*size)
        if fed(size, speed_of(size)) or size == candidates[0]:
            return size[0], size[1], speed_of(size), _near(seconds, task, size, speed_of, timed)
    raise AssertionError("the smallest candidate is always taken")


def feeding_speed(task: Task, size: tuple[int, int], seconds: float) -> float:
    """The chars/s from which `seconds` feed `size`: CHARS_PER_WEIGHT characters per recurrent weight, or
    HELD_BACK_CHARS_PER_WEIGHT where that many passes press it to HELD_BACK_EXPOSURE (its passes capped at
    MAX_PASSES)."""
    recurrent = recurrent_weights(task, *size)
    train_chars = max(task.train_chars, 1)
    fed = CHARS_PER_WEIGHT * recurrent / seconds
    if MAX_PASSES * recurrent / train_chars < HELD_BACK_EXPOSURE:  # never pressed that hard, however fast
        return fed
    pressed = HELD_BACK_EXPOSURE * train_chars ** 2 / recurrent  # the characters that press it that hard
    held_back = max(HELD_BACK_CHARS_PER_WEIGHT * recurrent, pressed) / seconds
    return min(fed, held_back)


def fits(task: Task, size: tuple[int, int]) -> bool:
    """Whether the training text is large enough for a model of `size` (MAX_WEIGHTS_PER_CHAR)."""
    return weights(task, *size) <= MAX_WEIGHTS_PER_CHAR * max(task.train_chars, 1)


def _near(seconds: float, task: Task, size: tuple[int, int], speed_of: Callable[[tuple[int, int]], float],
          timed: dict) -> str:
    """What the log says when a speed within PROBE_SPREAD of the one found would have chosen otherwise."""
    at = SIZES.index(size)
    wider = next((s for s in SIZES[at + 1:] if fits(task, s)), None)
    for other, need, have, went in ((wider, wider and feeding_speed(task, wider, seconds), wider and speed_of(wider),
                                     "not taken"), (size if at else None, feeding_speed(task, size, seconds),
                                                    speed_of(size), "taken")):
        if other is not None and abs(have / need - 1) < PROBE_SPREAD:
            how = "runs at" if other in timed else "is estimated at"
            return (f" (near a threshold: a {other[0]}x{other[1]} is fed from {need:,.0f} chars/s and {how} "
                    f"{have:,.0f} here, within the probe's own spread of ±{PROBE_SPREAD:.0%}: {went})")
    return ""


def choose(minutes: float, speeds: dict[str, float], task: Task,
           measure: Callable[[int, int], float] | None = None, batch: dict = BATCH) -> Recipe:
    """The recipe for `minutes` from the reference model's measured speeds ({precision: chars/s});
    `measure(layers, width)` times another model (without it, speeds are estimated from the reference's);
    speeds and `measure` are at `batch`, the streams and window a step reads.
    The batch chosen is the whole job's; with several processes each takes its share of the streams.
    In line mode a step reads whole items: as many as make the characters a step of streams would."""
    precision = pick_precision(speeds)
    layers, width, speed, how = _model(minutes * 60, speeds[precision], task, measure)
    chosen_size = task.parent is None and "layers" not in task.fixed and "hidden_size" not in task.fixed
    reading = _reading(minutes * 60, speed, task, chosen_size)
    exposed = exposure(reading, task, layers, width)
    dropout, shifted = _dropout(exposed, task)
    model = {**(task.parent or {}), "cell": task.cell, "layers": layers, "hidden_size": width, "dropout": dropout}
    decayed = exposed >= DECAY_EXPOSURE and task.parent is None  # a fine-tuned model keeps its parent's weights close
    train = {**_optimizer(task, reading.chars, width, batch, decayed), "precision": precision}
    if decayed:
        train["weight_decay"] = WEIGHT_DECAY
    if reading.stops_early:
        # A cap on passes, not a shorter time: a machine slower than its probe trains for the whole budget.
        train["epochs"] = MAX_PASSES
    chars_per_step = train["batch_size"] * train["seq_len"]
    if task.item_chars:
        # As many items as make a step of streams' characters; but a short list is still read in several
        # steps a pass (300 names would otherwise be fewer than one step of 341).
        items = task.train_chars / task.item_chars
        train["batch_size"] = max(1, min(round(chars_per_step / task.item_chars), int(items * MAX_ITEM_BATCH_SHARE)))
        chars_per_step = train["batch_size"] * task.item_chars
    train.update(_evaluations(task, reading, steps=max(1, reading.chars / chars_per_step)))
    job = train["batch_size"]
    train["batch_size"] = max(1, round(job / task.world))
    why = _why(minutes, speeds, task, how, reading, model, train, job, shifted, exposed)
    return Recipe({k: v for k, v in model.items() if k not in task.fixed}, train, why, (layers, width),
                  reading.stops_early)


def _model(seconds: float, reference_speed: float, task: Task,
           measure: Callable[[int, int], float] | None) -> tuple[int, int, float, str]:
    """(layers, width, chars/s, how it was chosen): the parent's, the user's, or the widest the budget feeds."""
    fixed = task.fixed
    if task.parent is not None:
        return task.parent["layers"], task.parent["hidden_size"], reference_speed, "the parent's model"
    if "layers" in fixed or "hidden_size" in fixed:
        layers, width = fixed.get("layers", REFERENCE[0]), fixed.get("hidden_size", REFERENCE[1])
        speed = (reference_speed if (layers, width) == REFERENCE else measure(layers, width) if measure
                 else estimate_speed(task, reference_speed, layers, width))
        return layers, width, speed, "the model you chose"
    layers, width, speed, near = pick_size(seconds, reference_speed, task, measure)
    if speed * seconds >= CHARS_PER_WEIGHT * recurrent_weights(task, layers, width):
        return layers, width, speed, f"the widest model that reads {CHARS_PER_WEIGHT:g}+ characters per recurrent weight{near}"
    return layers, width, speed, (f"the widest model that reads {HELD_BACK_CHARS_PER_WEIGHT:g}+ characters per recurrent "
                                  f"weight where the most dropout and weight decay hold it back{near}")


def _reading(seconds: float, speed: float, task: Task, chosen_size: bool) -> Reading:
    """What `seconds` at `speed` read, and where the run stops: a model the recipe sized stops at MAX_PASSES."""
    readable = speed * seconds  # characters the model can read in the budget
    passes = readable / max(task.train_chars, 1)
    # Measured on text only: in line mode the speed probe overestimates what a step of short items
    # reads, and cutting a list of names at 20 planned passes stopped it at 12, 0.09 nats short.
    if task.max_passes is not None and passes > task.max_passes:  # the user's --epochs ends the run first
        share = task.max_passes / passes
        return Reading(speed, readable, passes, False, readable * share, seconds * share)
    stop_early = passes > MAX_PASSES and chosen_size and "dropout" not in task.fixed and not task.item_chars
    if not stop_early:
        return Reading(speed, readable, passes, False, readable, seconds)
    return Reading(speed, readable, passes, True, readable * MAX_PASSES / passes, seconds * MAX_PASSES / passes)


def exposure(reading: Reading, task: Task, layers: int, width: int) -> float:
    """The passes the run will make times the model's recurrent weights per character of training text."""
    train_chars = max(task.train_chars, 1)
    return reading.chars / train_chars * recurrent_weights(task, layers, width) / train_chars


def _dropout(exposed: float, task: Task) -> tuple[float, bool]:
    """(dropout, whether it is there for a validation text unlike the training text)."""
    dropout = (0.3 if exposed >= DROPOUT_EXPOSURE[2] else 0.2 if exposed >= DROPOUT_EXPOSURE[1]
               else 0.1 if exposed >= DROPOUT_EXPOSURE[0] else 0.0)
    shifted = task.val_shift >= SHIFT_FOR_DROPOUT and dropout < SHIFT_DROPOUT
    return (SHIFT_DROPOUT if shifted else dropout), shifted


def _optimizer(task: Task, chars: float, width: int, batch: dict, decayed: bool) -> dict:
    """The batch and the learning-rate schedule for a run that reads `chars` with a model `width` wide
    (`decayed`: with weight decay, at DECAY_LR_SCALE times the rate)."""
    if task.parent is not None:
        return dict(batch, lr=FINE_TUNE["lr"], warmup_steps=FINE_TUNE["warmup_steps"], min_lr_ratio=0.1)
    # A few million characters learn fastest at a high rate; wider models want a lower one, and
    # larger batches (less noisy gradients) a higher one.
    base = 5e-3 if chars < 5e6 else 4e-3
    lr = base * 256 / width * math.sqrt(batch["batch_size"] / BATCH["batch_size"])
    lr *= DECAY_LR_SCALE if decayed else 1
    return dict(batch, lr=round(min(lr, MAX_LR), 6), min_lr_ratio=0.02)


def _evaluations(task: Task, reading: Reading, steps: float) -> dict:
    """eval_every (and eval_chars, when a large validation text is read in part) for a run of `steps`."""
    speed, seconds = reading.speed, reading.seconds
    read = min(task.eval_chars or task.val_chars, task.val_chars)  # what an evaluation reads
    eval_s = read / (EVAL_SPEEDUP * speed)
    slot = EVAL_SHARE * seconds / MIN_EVALS  # the time each of the fewest evaluations may take
    part = max(MIN_EVAL_CHARS, int(slot * EVAL_SPEEDUP * speed))
    options = {}
    if task.eval_chars is None and eval_s > slot and part <= task.val_chars / 2:
        options["eval_chars"] = part
        eval_s = part / (EVAL_SPEEDUP * speed)
    evals = max(1, min(MAX_EVALS, int(EVAL_SHARE * seconds / eval_s))) if eval_s else MAX_EVALS
    options["eval_every"] = max(50, math.ceil(steps / evals))
    return options


def _why(minutes: float, speeds: dict[str, float], task: Task, how: str, reading: Reading, model: dict,
         train: dict, job: int, shifted: bool, exposed: float) -> str:
    """The one line for the log: what the budget reads, and what was chosen for it."""
    if train["precision"] == "bf16" and "fp32" in speeds:
        arithmetic = f"bf16 autocast ({speeds['bf16'] / speeds['fp32']:.1f}x the fp32 speed)"
    else:
        arithmetic = train["precision"]
    shares = f" ({task.world} processes of {train['batch_size']})" if task.world > 1 else ""
    shape = f"{job} items{shares}" if task.item_chars else f"{job}{shares} x {train['seq_len']}"
    unlike = (f" (the validation text is unlike the training text: {task.val_shift:+.2f} nats/char for a bigram "
              "model)") if shifted else ""
    near = [t for t in DROPOUT_EXPOSURE if abs(exposed / t - 1) < PROBE_SPREAD]
    if "dropout" in task.fixed or reading.stops_early:  # the dropout is the user's, or the model's at the cap
        near = []
    near_text = (f"; near a threshold: from {near[0]:g} passes x recurrent weights per character (here "
                 f"{exposed:.1f}) the dropout is higher") if near else ""
    decay = f", weight decay {train['weight_decay']:g}" if train.get("weight_decay") else ""
    why = (f"{minutes:g} minutes at {reading.speed:,.0f} chars/s in {arithmetic} is about "
           f"{reading.readable / 1e6:,.1f}M characters ({reading.passes:,.1f} passes over the training text{near_text}): "
           f"{how}, {task.cell} {model['layers']}x{model['hidden_size']}, dropout {model['dropout']:g}{unlike}{decay}, "
           f"batch {shape}, lr {train['lr']:g}, an evaluation every {train['eval_every']:,} steps")
    if "eval_chars" in train:
        why += f" reading {train['eval_chars']:,} of the {task.val_chars:,} validation characters"
    if reading.stops_early:
        why += (f"; a text this small is learned by heart after about {MAX_PASSES:g} passes, so training stops "
                f"after {MAX_PASSES:g} passes (about {reading.seconds / 60:.1f} of the {minutes:g} minutes)")
    return why
