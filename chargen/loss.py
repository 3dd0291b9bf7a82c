"""The training objective: cross-entropy in nats per character, the forward pass that computes it,
and the loss of a whole held-out text with the state carried across windows."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from chargen.data import eval_windows
from chargen.model import CharRNN, State

LN2 = math.log(2.0)


def bits(nats: float) -> float:
    return nats / LN2


def char_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in nats per character: logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def forward_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, state: State | None = None,
                 precision: str = "fp32") -> tuple[torch.Tensor, State]:
    """The training forward pass: (mean loss of targets y after inputs x, next state).

    In bf16 the model runs under autocast; the softmax and loss are always fp32.
    """
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits, state = model(x, state)
    return char_loss(logits.float(), y), state


@torch.no_grad()
def text_loss_sum(model: CharRNN, ids: np.ndarray, batch_size: int, seq_len: int, device: torch.device,
                  shard: tuple[int, int] = (0, 1)) -> tuple[float, int]:
    """(summed loss in nats, predicted characters) over `ids` laid out as streams, state carried.

    `shard` (rank, world) takes every world-th stream from the rank-th on, so several processes can
    split one evaluation and add their sums: the total is the single-process one.
    """
    was_training = model.training
    model.eval()
    rank, world = shard
    state: State | None = None
    total, count = 0.0, 0
    for x, y in eval_windows(ids, batch_size, seq_len):
        x, y = x[rank::world], y[rank::world]
        if not len(x):
            break
        logits, state = model(x.to(device), state)
        total += F.cross_entropy(logits.flatten(0, 1), y.to(device).flatten(), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total, count


def evaluate(model: CharRNN, ids: np.ndarray, batch_size: int, seq_len: int, device: torch.device) -> float:
    """Loss in nats/char over all of `ids`, state carried across windows."""
    total, count = text_loss_sum(model, ids, batch_size, seq_len, device)
    return total / count
