"""Regularisation that keeps torch's fused recurrent kernels: weight-drop and locked dropout (AWD-LSTM).

Weight-drop (DropConnect on the hidden-to-hidden matrices; Wan et al. 2013, Merity et al. 2018) drops
weights, not activations: one mask per window, applied to the matrices before the fused kernel reads
them, so oneDNN or cuDNN run unchanged and the recurrence itself is regularised, which dropping
activations cannot do without a kernel of its own. Locked (variational) dropout (Gal & Ghahramani 2016)
draws one mask per stream per window and holds it over the window's time steps, where ordinary dropout
draws one per character.

Both act only in training, on the plain model's own parameters under their own names: checkpoints,
exports, sampling and evaluation do not know a run used them.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.nn.utils.rnn import PackedSequence


def locked_dropout(x: torch.Tensor | PackedSequence, p: float) -> torch.Tensor | PackedSequence:
    """x (B, T, F), or a PackedSequence of them, with one mask per sequence held over its time steps."""
    if p == 0:
        return x
    if isinstance(x, PackedSequence):
        # Packed rows are time-major: at step t, the first batch_sizes[t] sequences (in sorted order).
        batch_sizes = x.batch_sizes.tolist()
        mask = x.data.new_empty(batch_sizes[0], x.data.shape[-1]).bernoulli_(1 - p) / (1 - p)
        rows = torch.cat([torch.arange(n) for n in batch_sizes]).to(x.data.device)
        return x._replace(data=x.data * mask[rows])
    mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - p) / (1 - p)
    return x * mask


def dropout(x: torch.Tensor | PackedSequence, p: float, locked: bool) -> torch.Tensor | PackedSequence:
    """Training-time dropout of x, locked over time or drawn per character."""
    if locked:
        return locked_dropout(x, p)
    if isinstance(x, PackedSequence):
        return x._replace(data=F.dropout(x.data, p))
    return F.dropout(x, p)


class RegularisedStack:
    """Runs an nn.LSTM / nn.GRU / nn.RNN stack's own parameters with weight-drop on its hidden-to-hidden
    matrices and, where `between` is locked, locked dropout between its layers.

    The layers then run one at a time, each through a one-layer module of the same kind whose parameters
    are the stack's (torch.func.functional_call): the fused kernel still runs each layer whole. The
    templates live on the meta device, holding no memory, and are not submodules, so the model's
    parameters and state_dict are the plain stack's."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        self.rnn = rnn
        kind = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}
        extra = {"nonlinearity": kind[rnn.mode]} if rnn.mode in kind else {}
        self.layers = [type(rnn)(rnn.input_size if k == 0 else rnn.hidden_size, rnn.hidden_size, 1, batch_first=True,
                                 device="meta", **extra) for k in range(rnn.num_layers)]

    def __call__(self, x, state, weight_drop: float, between: float, locked: bool):
        """x, state as nn.LSTM takes them (the state (h, c) or h, each (L, B, H)) -> output, next state.
        With unlocked dropout between layers, the stack's own (fused) inter-layer dropout is used."""
        params = dict(self.rnn.named_parameters())
        for name in params:
            if weight_drop and name.startswith("weight_hh"):
                params[name] = F.dropout(params[name], weight_drop)
        with warnings.catch_warnings():
            # Dropped weights are fresh tensors each window, which cuDNN packs on every call: that is the price
            # of weight-drop, not a fault to warn about at every step.
            warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk")
            return self._run(x, state, params, between, locked)

    def _run(self, x, state, params: dict, between: float, locked: bool):
        if not (locked and between and self.rnn.num_layers > 1):
            return functional_call(self.rnn, params, (x, state))
        lstm = isinstance(state, tuple)
        outputs = []
        for k, layer in enumerate(self.layers):
            if k:
                x = locked_dropout(x, between)
            own = {name.removesuffix(f"_l{k}") + "_l0": value for name, value in params.items()
                   if name.endswith(f"_l{k}")}
            layer_state = (state[0][k : k + 1], state[1][k : k + 1]) if lstm else state[k : k + 1]
            x, layer_state = functional_call(layer, own, (x, layer_state))
            outputs.append(layer_state)
        if lstm:
            return x, (torch.cat([h for h, _ in outputs]), torch.cat([c for _, c in outputs]))
        return x, torch.cat(outputs)
