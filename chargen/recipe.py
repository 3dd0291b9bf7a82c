"""Choose the model and training recipe that make the best text in a wall-clock budget on this machine.

What wins depends on how many characters the budget lets the machine process: short budgets favour a
mid-sized model, small batches, many steps and a high learning rate; long ones (or a GPU) a wider,
deeper model with dropout so that many passes over a small corpus do not overfit. The speed is
measured, not guessed: a few real training steps of the reference model on the chosen device.
Options the user gave explicitly always win over the recipe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from chargen.config import ModelConfig, TrainConfig
from chargen.model import CharRNN
from chargen.train import make_optimizer

REFERENCE = {"cell": "lstm", "layers": 2, "hidden_size": 256}
REFERENCE_BATCH = {"batch_size": 32, "seq_len": 64}


@dataclass(frozen=True)
class Recipe:
    model: dict  # ModelConfig options
    train: dict  # TrainConfig options
    why: str  # one line for the log


def measure_speed(vocab_size: int, device: torch.device, steps: int = 6) -> float:
    """Characters per second of full training steps of the reference model (after one warm-up step)."""
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=vocab_size, **REFERENCE)).to(device)
    opt = make_optimizer(model, TrainConfig())
    B, T = REFERENCE_BATCH["batch_size"], REFERENCE_BATCH["seq_len"]
    x = torch.randint(0, vocab_size, (B, T), device=device)

    def step() -> None:
        logits, _ = model(x)
        loss = F.cross_entropy(logits.flatten(0, 1), x.flatten())
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


def choose(minutes: float, chars_per_s: float, train_chars: int) -> Recipe:
    """The recipe for a budget of `minutes` at the reference model's measured speed."""
    budget = chars_per_s * minutes * 60  # characters the reference model could read in the budget
    epochs = budget / max(train_chars, 1)
    if budget < 5e6:
        # A few million characters: the 2x256 reference with a high learning rate learns fastest.
        model, train = dict(REFERENCE, dropout=0.0), dict(REFERENCE_BATCH, lr=5e-3, min_lr_ratio=0.02)
    elif budget < 3e7:
        # Tens of millions: the same model, a little gentler; a 2x384, or dropout 0.1, did worse on
        # tinyshakespeare in 10 CPU minutes (bench/quality.py), so dropout only for a tiny corpus.
        # Up to ~10M characters, twice the steps of half the batch win (5 minutes: 1.513 against
        # 1.527); beyond, the full batch does (10 minutes: 1.491 against 1.525).
        dropout = 0.1 if epochs >= 20 else 0.0
        model = dict(REFERENCE, dropout=dropout)
        train = dict(REFERENCE_BATCH, batch_size=16 if budget < 1e7 else 32, lr=4e-3, min_lr_ratio=0.02)
    else:
        # A GPU or a long budget: char-rnn's large model, longer windows, and dropout against overfitting.
        dropout = 0.25 if epochs >= 20 else 0.1
        model = {"cell": "lstm", "layers": 3, "hidden_size": 512, "dropout": dropout}
        train = {"batch_size": 64, "seq_len": 128, "lr": 2e-3, "min_lr_ratio": 0.02}
    size = f"{model['cell']} {model['layers']}x{model['hidden_size']}"
    why = (f"{minutes:g} minutes at {chars_per_s:,.0f} chars/s is about {budget / 1e6:,.1f}M characters "
           f"({epochs:,.1f} passes over the training text): {size}, dropout {model['dropout']:g}, "
           f"batch {train['batch_size']} x {train['seq_len']}, lr {train['lr']:g}")
    return Recipe(model, train, why)
