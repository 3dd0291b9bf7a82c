"""Choose the model and training recipe that make the best text in a wall-clock budget on this machine.

What wins depends on how many characters the budget lets the machine process: short budgets favour a
mid-sized model, small batches, many steps and a high learning rate; long ones (or a GPU) a wider,
deeper model with dropout so that many passes over a small corpus do not overfit. The speed is
measured, not guessed: a few real training steps of the reference model on the chosen device, in
fp32 and, where the hardware has it, bf16 (and of the large model when the budget might suit it).
Options the user gave explicitly always win over the recipe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from chargen.config import ModelConfig, TrainConfig
from chargen.errors import ChargenError
from chargen.loss import forward_loss
from chargen.model import CharRNN
from chargen.optim import make_optimizer

REFERENCE = {"cell": "lstm", "layers": 2, "hidden_size": 256}
REFERENCE_BATCH = {"batch_size": 32, "seq_len": 64}
LARGE = {"cell": "lstm", "layers": 3, "hidden_size": 512}  # char-rnn's large model
LARGE_BATCH = {"batch_size": 64, "seq_len": 128}
LARGE_BUDGET = 3e7  # characters the large model must be able to read in the budget to be chosen
# bf16 must beat fp32 by this much to be chosen, so that measurement noise never picks it for nothing.
BF16_MIN_SPEEDUP = 1.2
FINE_TUNE = {"lr": 2e-3, "warmup_steps": 20}  # from a trained model: bench/finetune.py (5e-4 to 3e-3 within 0.02)


@dataclass(frozen=True)
class Recipe:
    model: dict  # ModelConfig options
    train: dict  # TrainConfig options
    why: str  # one line for the log


def measure_speed(vocab_size: int, device: torch.device, precision: str, model: dict, batch: dict,
                  steps: int = 6) -> float:
    """Characters per second of full training steps of `model` (after one warm-up step)."""
    torch.manual_seed(0)
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


def measure_speeds(vocab_size: int, device: torch.device, precisions: list[str], model: dict) -> dict[str, float]:
    """{precision: chars/s} of `model` at the reference batch, for those of `precisions` that run here.

    A precision that fails (no bf16 kernel for this cell on this device, say) is left out; if it was
    the only one asked for, that is the user's error to hear about.
    """
    speeds = {}
    for precision in precisions:
        try:
            speeds[precision] = measure_speed(vocab_size, device, precision, model, REFERENCE_BATCH)
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
    cell: str = "lstm"
    world: int = 1  # processes training together; each is taken to run at the measured speed
    item_chars: float | None = None  # line mode: the mean characters an item takes, its end included
    parent: dict | None = None  # fine-tuning (--init-from): the parent's model options, which are kept


def plan(minutes: float, task: Task, device: torch.device, precisions: list[str]) -> Recipe:
    """Measure this machine, then choose: the recipe for `minutes` of training on `task`."""
    measured = task.parent or {**REFERENCE, "cell": task.cell}
    speeds = {p: s * task.world for p, s in measure_speeds(task.vocab_size, device, precisions, measured).items()}
    precision = pick_precision(speeds)
    large_chars_per_s = None
    if task.parent is None and speeds[precision] * minutes * 60 >= LARGE_BUDGET:
        # Only then can the large model be worth it: time it.
        large_chars_per_s = task.world * measure_speed(task.vocab_size, device, precision, LARGE, LARGE_BATCH, steps=3)
    return choose(minutes, speeds, large_chars_per_s, task)


def choose(minutes: float, speeds: dict[str, float], large_chars_per_s: float | None, task: Task) -> Recipe:
    """The recipe for `minutes` from measured speeds: the reference model's ({precision: chars/s}) and the
    large model's in the precision picked (None when the budget is too small for it to be worth timing).
    The batch chosen is the whole job's; with several processes each takes its share of the streams.
    In line mode a step reads whole items: as many as make the characters a step of streams would."""
    precision = pick_precision(speeds)
    seconds = minutes * 60
    large = (large_chars_per_s or 0.0) * seconds >= LARGE_BUDGET
    # Characters the chosen model can read in the budget, and how many passes over the text that is.
    budget = (large_chars_per_s if large else speeds[precision]) * seconds
    epochs = budget / max(task.train_chars, 1)
    if task.parent is not None:
        # Fine-tuning keeps the parent's model and starts from what it knows: a gentler learning rate
        # and a short warm-up (bench/finetune.py).
        model = dict(task.parent, dropout=0.1 if epochs >= 10 else task.parent.get("dropout", 0.0))
        train = dict(REFERENCE_BATCH, lr=FINE_TUNE["lr"], warmup_steps=FINE_TUNE["warmup_steps"], min_lr_ratio=0.1)
    elif large:
        # A GPU or a long budget: char-rnn's large model, longer windows, and dropout against overfitting.
        model = dict(LARGE, dropout=0.25 if epochs >= 20 else 0.1)
        train = dict(LARGE_BATCH, lr=2e-3, min_lr_ratio=0.02)
    elif budget < 5e6:
        # A few million characters: the 2x256 reference with a high learning rate learns fastest.
        model, train = dict(REFERENCE, cell=task.cell, dropout=0.0), dict(REFERENCE_BATCH, lr=5e-3, min_lr_ratio=0.02)
    else:
        # Tens of millions: the same model, a little gentler (a 2x384 did worse on tinyshakespeare in
        # 10 CPU minutes). Around 10 passes over the text the model starts to memorise it (train loss
        # 1.21 against val 1.514), so dropout: at 13 passes 0.1 gave 1.500 and 0.2 1.512 (README,
        # Benchmarks). Up to ~10M characters, twice the steps of half the batch win (1.513 against
        # 1.527); beyond, the full batch does (1.491 against 1.525).
        model = dict(REFERENCE, cell=task.cell, dropout=0.2 if epochs >= 20 else 0.1 if epochs >= 10 else 0.0)
        train = dict(REFERENCE_BATCH, batch_size=16 if budget < 1e7 else 32, lr=4e-3, min_lr_ratio=0.02)
    train["precision"] = precision
    if task.item_chars:
        train["batch_size"] = max(1, round(train["batch_size"] * train["seq_len"] / task.item_chars))
    batch = train["batch_size"]
    train["batch_size"] = max(1, round(batch / task.world))
    if precision == "bf16" and "fp32" in speeds:
        arithmetic = f"bf16 autocast ({speeds['bf16'] / speeds['fp32']:.1f}x the fp32 speed)"
    else:
        arithmetic = precision
    size = f"{model['cell']} {model['layers']}x{model['hidden_size']}"
    if task.parent is not None:
        size = f"the parent's {size}"
    shares = f" ({task.world} processes of {train['batch_size']})" if task.world > 1 else ""
    shape = f"{batch} items{shares}" if task.item_chars else f"{batch}{shares} x {train['seq_len']}"
    why = (f"{minutes:g} minutes at {budget / seconds:,.0f} chars/s in {arithmetic} is about {budget / 1e6:,.1f}M "
           f"characters ({epochs:,.1f} passes over the training text): {size}, dropout {model['dropout']:g}, "
           f"batch {shape}, lr {train['lr']:g}")
    return Recipe(model, train, why)
