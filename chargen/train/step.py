"""The one training step: forward, loss, backward, clip, update.

The training loop runs it, and the recipe's speed probe and the benchmarks time it, so what they
measure is what a run does (precision, clipping, the distributed all-reduce, the host read).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import PackedSequence

from chargen.model.charrnn import State, detach_state
from chargen.train.loss import forward_loss


@dataclass
class StepResult:
    loss: float  # nats/char of the batch (times its weight)
    grad_norm: float  # before clipping; every process's average under DistributedDataParallel
    applied: bool  # False: the loss or a gradient was not finite and the weights were left alone
    state: State | None  # the state after the batch, detached: what the next window starts from


class TrainStep:
    """One optimizer step of `net` (the model, or its DistributedDataParallel wrapper) on a batch."""

    def __init__(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer, precision: str = "fp32",
                 grad_clip: float = 1.0) -> None:
        self.net, self.optimizer, self.precision = net, optimizer, precision
        self.clip = grad_clip if grad_clip > 0 else math.inf
        self.params = list(net.parameters())  # the model's order: the clipped norm is summed in it, bit for bit

    def __call__(self, x: torch.Tensor | PackedSequence, y: torch.Tensor, state: State | None, lr: float,
                 weight: float = 1.0, read_back: bool = True) -> StepResult:
        """x (B, T) ids or items, y (B, T) targets. `read_back=False` (benchmarks only) skips the one host
        read of loss and gradient norm, and with it the check that they are finite."""
        loss, new_state = forward_loss(self.net, x, y, state, self.precision)
        loss = loss * weight
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # under DistributedDataParallel this also averages the gradients of every process
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        loss_value = grad_norm = math.nan
        if read_back:
            # One transfer for both numbers: on a GPU each read waits for all the work queued before it.
            # Every process sees the same averaged norm, so all make the same choice below.
            loss_value, grad_norm = torch.stack([loss.detach().float(), norm.float()]).tolist()
            if not math.isfinite(grad_norm):
                return StepResult(loss_value, grad_norm, False, None)  # non-finite numbers never reach the weights
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        return StepResult(loss_value, grad_norm, True, detach_state(new_state))
