"""The character model: embedding (or one-hot) -> stacked LSTM/GRU/RNN -> linear to the vocabulary.

Shapes: B batch, T time steps, V vocabulary, E embedding width, H hidden width, L layers.
The recurrent stack is torch's fused nn.LSTM / nn.GRU / nn.RNN (oneDNN on CPU, cuDNN on GPU); weight-drop
and locked dropout run it on its own parameters (chargen.model.regularisation).
No I/O and no printing here: the model only maps ids and a state to logits and the next state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from chargen.config import ModelConfig
from chargen.model.regularisation import RegularisedStack, dropout

# A recurrent state: (h, c) for an LSTM, (h,) for the others; each (L, B, H).
State = tuple[torch.Tensor, ...]


class CharRNN(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim) if c.embed_dim else None
        rnn_dropout = c.dropout if c.layers > 1 and not c.locked_dropout else 0.0  # locked: ours, between layers
        if c.cell == "lstm":
            self.rnn = nn.LSTM(c.input_size, c.hidden_size, c.layers, batch_first=True, dropout=rnn_dropout)
        elif c.cell == "gru":
            self.rnn = nn.GRU(c.input_size, c.hidden_size, c.layers, batch_first=True, dropout=rnn_dropout)
        else:
            nonlinearity = c.cell.removeprefix("rnn-")
            self.rnn = nn.RNN(
                c.input_size, c.hidden_size, c.layers, nonlinearity=nonlinearity, batch_first=True, dropout=rnn_dropout
            )
        self.head = nn.Linear(c.hidden_size, c.vocab_size)
        # Weight-drop, or locked dropout between layers, runs the stack through this instead of calling it.
        self.regularised = (RegularisedStack(self.rnn)
                            if c.weight_drop or (c.locked_dropout and c.dropout and c.layers > 1) else None)
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        """The recurrent weights as config.init says; torch's own initialisation is the starting point."""
        H, scheme = self.config.hidden_size, self.config.init
        for name, p in self.rnn.named_parameters():
            if scheme == "orthogonal" and name.startswith("weight_hh"):
                for block in p.split(H):  # each gate's (H, H) recurrent matrix
                    nn.init.orthogonal_(block)
            elif scheme == "identity":
                if name.startswith("weight_hh"):
                    nn.init.eye_(p)  # the IRNN: the state is carried as it is...
                elif name.startswith("weight_ih"):
                    nn.init.normal_(p, std=1e-3)  # ...and tiny input weights do not compound
                else:
                    p.zero_()
            elif scheme == "forget-1" and name.startswith("bias"):
                p.zero_()
                if name.startswith("bias_ih"):
                    p[H : 2 * H] = 1.0  # gate order i, f, g, o: remember by default

    @torch.no_grad()
    def init_output_bias(self, counts: torch.Tensor) -> None:
        """Start the output bias at the log frequency of each character in the training text.

        An untrained model then predicts the text's character frequencies instead of a uniform guess, so
        training does not spend its first steps learning them: on an alphabet of thousands of characters
        that is most of a short budget (python -m bench.quality --corpus cantonese). Characters the training text
        lacks get half a count, so every log-probability is finite."""
        smoothed = counts.to(torch.float64) + 0.5
        self.head.bias.copy_((smoothed / smoothed.sum()).log().to(self.head.bias.dtype))

    @classmethod
    def trained(cls, config: ModelConfig, weights: dict[str, torch.Tensor]) -> CharRNN:
        """A model with trained weights (a checkpoint's), in evaluation mode."""
        model = cls(config)
        model.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})  # arrays from a .safetensors too
        return model.eval()

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> State:
        c = self.config
        dtype = self.head.weight.dtype
        zeros = lambda: torch.zeros(c.layers, batch_size, c.hidden_size, device=device, dtype=dtype)  # noqa: E731
        return (zeros(), zeros()) if c.cell == "lstm" else (zeros(),)

    def forward(self, ids: torch.Tensor | PackedSequence, state: State | None = None) -> tuple[torch.Tensor, State]:
        """ids (B, T) int64, state or None for zeros -> logits (B, T, V), next state.

        B sequences of different lengths may come packed (a PackedSequence of N ids in all): the
        logits are then (N, V), in the packed order, and no step is spent on padding.
        """
        packed = isinstance(ids, PackedSequence)
        flat = ids.data if packed else ids  # (N,) or (B, T)
        if self.embed is not None:
            x = self.embed(flat)  # (..., E)
        else:
            x = F.one_hot(flat, self.config.vocab_size).to(self.head.weight.dtype)  # (..., V)
        if packed:
            x = ids._replace(data=x)
        if state is None:
            batch = int(ids.batch_sizes[0]) if packed else flat.shape[0]  # the longest sequence spans the batch
            state = self.init_state(batch, flat.device)
        c = self.config
        rnn_state = state if c.cell == "lstm" else state[0]
        if self.training and c.input_dropout:
            x = dropout(x, c.input_dropout, c.locked_dropout)
        if self.training and self.regularised is not None:
            out, new_state = self.regularised(x, rnn_state, c.weight_drop, c.dropout, c.locked_dropout)
        else:
            out, new_state = self.rnn(x, rnn_state)  # (B, T, H), or packed (N, H)
        if self.training and c.dropout:
            out = dropout(out, c.dropout, c.locked_dropout)
        logits = self.head(out.data if packed else out)  # (B, T, V) or (N, V)
        return logits, (new_state if c.cell == "lstm" else (new_state,))


def detach_state(state: State) -> State:
    """Cut the graph between windows: gradients flow T steps back, the values carry on (truncated BPTT).

    The carried state is kept in fp32 whatever precision produced it, as the checkpoint stores it.
    """
    return tuple(s.detach().float() for s in state)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
