"""The training objective: cross-entropy in nats per character, the forward pass that computes it,
and the loss summed over held-out batches (windows of a text with the state carried, or items)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import PackedSequence

from chargen.model.charrnn import CharRNN, State


def char_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in nats per character: logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def forward_loss(model: torch.nn.Module, x: torch.Tensor | PackedSequence, y: torch.Tensor,
                 state: State | None = None, precision: str = "fp32") -> tuple[torch.Tensor, State]:
    """The training forward pass: (mean loss of targets y after inputs x, next state).

    In bf16 the model runs under autocast; the softmax and loss are always fp32.
    """
    device_type = y.device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits, state = model(x, state)
    return char_loss(logits.float(), y), state


@torch.no_grad()
def loss_sum(model: CharRNN, batches: Iterable[tuple[torch.Tensor | PackedSequence, torch.Tensor]],
             device: torch.device, carry_state: bool) -> tuple[float, int]:
    """(summed loss in nats, predicted characters) over `batches`; with `carry_state` the state left by
    one batch starts the next (consecutive windows of the same streams), else each starts afresh."""
    was_training = model.training
    model.eval()
    state: State | None = None
    total, count = 0.0, 0
    for x, y in batches:
        logits, new_state = model(x.to(device), state if carry_state else None)
        state = new_state
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.to(device).reshape(-1), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total, count

