"""The recurrent networks' equations written out in NumPy: the forward pass and backpropagation through
time by hand, for the tanh and ReLU RNN, the LSTM and the GRU, in float64.

This is the lectures' mathematics made executable. The tests use it as an oracle (torch's fused
kernels must give the same outputs and every parameter gradient to 1e-6), and the views of
`chargen.insight` read the quantities it exposes: the gradient reaching each earlier state, the cell
states and the gates. Shapes: B sequences, T steps, D inputs, H hidden units, G gate blocks, V
characters, L layers. PyTorch's conventions, layer by layer, with x_t the layer's input at step t:

    RNN    h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)               f = tanh or max(0, .)
    LSTM   i, f, g, o = the four H-blocks of W_ih x_t + b_ih + W_hh h_{t-1} + b_hh   (in that order)
           c_t = σ(f) * c_{t-1} + σ(i) * tanh(g)          h_t = σ(o) * tanh(c_t)
    GRU    r = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)   z = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
           n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))      h_t = (1 - z) * n + z * h_{t-1}

PyTorch's GRU differs from the textbook form of Cho et al. (2014), n = tanh(W_in x_t + W_hn (r * h_{t-1}) + b):
the reset gate multiplies the recurrent product after the matrix (with its bias b_hn inside), as
cuDNN's GRU does; and some texts write h_t = z * n + (1 - z) * h_{t-1}, swapping what z means.

The network around the layers: an embedding (or a one-hot vector when embed_dim is 0) feeds layer 0,
and a linear layer maps the top layer's h_t to logits; the loss is the mean cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chargen.config import ModelConfig


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass
class Step:
    """What one layer computed at one time step (all of it is needed again going backwards)."""

    x: np.ndarray  # (B, D) the layer's input
    h_prev: np.ndarray  # (B, H)
    h: np.ndarray  # (B, H)
    c_prev: np.ndarray | None = None  # LSTM: (B, H)
    c: np.ndarray | None = None
    gates: dict[str, np.ndarray] = field(default_factory=dict)  # after their nonlinearity, each (B, H)
    pre: np.ndarray | None = None  # RNN: the pre-activation (B, H)
    recurrent_n: np.ndarray | None = None  # GRU: W_hn h_{t-1} + b_hn (B, H)


@dataclass
class Pass:
    """A forward pass over a window: logits (B, T, V), the state it ends in, and every step's values."""

    ids: np.ndarray  # (B, T)
    logits: np.ndarray  # (B, T, V)
    state: list[tuple[np.ndarray, np.ndarray | None]]  # per layer (h, c or None), each (B, H)
    steps: list[list[Step]]  # [layer][t]

    def hidden(self, layer: int) -> np.ndarray:
        """h_t of a layer at every step: (B, T, H)."""
        return np.stack([s.h for s in self.steps[layer]], axis=1)

    def cells(self, layer: int) -> np.ndarray:
        """What a unit 'holds' at every step: tanh(c_t) for an LSTM, h_t otherwise, (B, T, H)."""
        if self.steps[layer][0].c is None:
            return self.hidden(layer)
        return np.tanh(np.stack([s.c for s in self.steps[layer]], axis=1))

    def gate(self, layer: int, name: str) -> np.ndarray:
        """One gate's activation at every step (LSTM: i, f, o, g; GRU: r, z, n), (B, T, H)."""
        return np.stack([s.gates[name] for s in self.steps[layer]], axis=1)


@dataclass
class Gradients:
    loss: float  # mean cross-entropy in nats over the targets that count
    params: dict[str, np.ndarray]  # named as in torch's state_dict
    # |dL/ds_t| for every step t, where s_t is the whole state after step t (every layer's h_t, and
    # c_t for an LSTM, each taken as a variable of its own): (B, T)
    state_norms: np.ndarray
    initial_state: list[tuple[np.ndarray, np.ndarray | None]]  # dL/d(the state the window started from)


class Network:
    """A CharRNN's weights and its equations, in float64."""

    def __init__(self, config: ModelConfig, weights: dict) -> None:
        self.config = config
        self.w = {k: np.asarray(v.detach().cpu().double().numpy() if hasattr(v, "detach") else v, dtype=np.float64)
                  for k, v in weights.items()}
        self.cell = config.cell
        self.layers, self.H, self.V = config.layers, config.hidden_size, config.vocab_size

    def zero_state(self, batch: int) -> list[tuple[np.ndarray, np.ndarray | None]]:
        lstm = self.cell == "lstm"
        return [(np.zeros((batch, self.H)), np.zeros((batch, self.H)) if lstm else None) for _ in range(self.layers)]

    def _inputs(self, ids: np.ndarray) -> np.ndarray:
        if self.config.embed_dim:
            return self.w["embed.weight"][ids]  # (B, T, E)
        return np.eye(self.V)[ids]  # (B, T, V): one-hot

    # -- forward -------------------------------------------------------------------------------

    def _step(self, layer: int, x: np.ndarray, h: np.ndarray, c: np.ndarray | None) -> Step:
        w_ih, w_hh = self.w[f"rnn.weight_ih_l{layer}"], self.w[f"rnn.weight_hh_l{layer}"]
        b_ih, b_hh = self.w[f"rnn.bias_ih_l{layer}"], self.w[f"rnn.bias_hh_l{layer}"]
        H = self.H
        if self.cell == "gru":
            gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh  # (B, 3H) each
            r = sigmoid(gi[:, :H] + gh[:, :H])
            z = sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
            n = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
            return Step(x, h, (1 - z) * n + z * h, gates={"r": r, "z": z, "n": n}, recurrent_n=gh[:, 2 * H :])
        a = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh  # (B, G*H)
        if self.cell == "lstm":
            i, f = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H])
            g, o = np.tanh(a[:, 2 * H : 3 * H]), sigmoid(a[:, 3 * H :])
            c_new = f * c + i * g
            return Step(x, h, o * np.tanh(c_new), c_prev=c, c=c_new, gates={"i": i, "f": f, "g": g, "o": o})
        h_new = np.tanh(a) if self.cell == "rnn-tanh" else np.maximum(a, 0.0)
        return Step(x, h, h_new, pre=a)

    def forward(self, ids: np.ndarray, state=None) -> Pass:
        """ids (B, T) -> logits (B, T, V), starting from `state` (zeros when None)."""
        ids = np.asarray(ids)
        B, T = ids.shape
        state = [(h.copy(), None if c is None else c.copy()) for h, c in (state or self.zero_state(B))]
        inputs = self._inputs(ids)
        steps: list[list[Step]] = [[] for _ in range(self.layers)]
        tops = []
        for t in range(T):
            x = inputs[:, t]
            for layer in range(self.layers):
                h, c = state[layer]
                step = self._step(layer, x, h, c)
                steps[layer].append(step)
                state[layer] = (step.h, step.c)
                x = step.h
            tops.append(x)
        logits = np.stack(tops, axis=1) @ self.w["head.weight"].T + self.w["head.bias"]  # (B, T, V)
        return Pass(ids, logits, state, steps)

    # -- backward ------------------------------------------------------------------------------

    def backward(self, run: Pass, targets: np.ndarray, last_only: bool = False) -> Gradients:
        """Backpropagation through the window's T steps of the mean cross-entropy of `targets` (B, T).

        With `last_only`, the loss is that of the last step alone, L_T: what vanishing-gradient
        plots measure, the gradient of one prediction with respect to every earlier state.
        """
        targets = np.asarray(targets)
        B, T, V = run.logits.shape
        H, L = self.H, self.layers
        z = run.logits - run.logits.max(-1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))  # (B, T, V)
        counted = np.zeros((B, T), bool)
        counted[:, -1 if last_only else slice(None)] = True
        n = counted.sum()
        picked = np.take_along_axis(log_p, targets[..., None], -1)[..., 0]
        loss = float(-picked[counted].sum() / n)
        d_logits = np.exp(log_p)
        np.put_along_axis(d_logits, targets[..., None], np.take_along_axis(d_logits, targets[..., None], -1) - 1, -1)
        d_logits *= counted[..., None] / n  # (B, T, V)

        g = {k: np.zeros_like(v) for k, v in self.w.items()}
        top = np.stack([s.h for s in run.steps[L - 1]], axis=1)  # (B, T, H)
        g["head.weight"] = np.einsum("btv,bth->vh", d_logits, top)
        g["head.bias"] = d_logits.sum((0, 1))
        d_top = d_logits @ self.w["head.weight"]  # (B, T, H): dL/dh_t of the top layer, through the head
        d_inputs = np.zeros((B, T, self.config.input_size))
        dh_next = [np.zeros((B, H)) for _ in range(L)]  # flowing back into step t from step t+1
        dc_next = [np.zeros((B, H)) if self.cell == "lstm" else None for _ in range(L)]
        state_norms = np.zeros((B, T))
        for t in reversed(range(T)):
            d_above = d_top[:, t]
            squares = np.zeros(B)
            for layer in reversed(range(L)):
                step = run.steps[layer][t]
                dh = d_above + dh_next[layer]  # the whole dL/dh_t of this layer
                squares += (dh**2).sum(1)
                if dc_next[layer] is not None:
                    squares += (dc_next[layer] ** 2).sum(1)  # dL/dc_t, h_t held apart
                d_x, dh_next[layer], dc_next[layer] = self._step_backward(layer, step, dh, dc_next[layer], g)
                d_above = d_x
            d_inputs[:, t] = d_above
            state_norms[:, t] = np.sqrt(squares)
        if self.config.embed_dim:
            np.add.at(g["embed.weight"], run.ids, d_inputs)
        return Gradients(loss, g, state_norms, list(zip(dh_next, dc_next)))

    def _step_backward(self, layer: int, s: Step, dh: np.ndarray, dc: np.ndarray | None, g: dict):
        """One layer, one step back: accumulates the weight gradients; returns (dx, dh_prev, dc_prev)."""
        w_ih, w_hh = self.w[f"rnn.weight_ih_l{layer}"], self.w[f"rnn.weight_hh_l{layer}"]
        dc_prev = None
        if self.cell == "gru":
            r, z, n = s.gates["r"], s.gates["z"], s.gates["n"]
            d_n = dh * (1 - z) * (1 - n**2)  # through tanh, to the pre-activation of n
            d_z = dh * (s.h_prev - n) * z * (1 - z)
            d_r = d_n * s.recurrent_n * r * (1 - r)
            d_gi = np.concatenate([d_r, d_z, d_n], axis=1)  # (B, 3H)
            d_gh = np.concatenate([d_r, d_z, d_n * r], axis=1)
            dh_prev = dh * z + d_gh @ w_hh
        else:
            if self.cell == "lstm":
                i, f, gg, o = (s.gates[k] for k in "ifgo")
                tanh_c = np.tanh(s.c)
                d_c = dc + dh * o * (1 - tanh_c**2)  # both paths into c_t
                dc_prev = d_c * f
                d_gi = np.concatenate([d_c * gg * i * (1 - i), d_c * s.c_prev * f * (1 - f),
                                       d_c * i * (1 - gg**2), dh * tanh_c * o * (1 - o)], axis=1)  # (B, 4H)
            elif self.cell == "rnn-tanh":
                d_gi = dh * (1 - s.h**2)
            else:
                d_gi = dh * (s.pre > 0)
            d_gh = d_gi
            dh_prev = d_gh @ w_hh
        g[f"rnn.weight_ih_l{layer}"] += d_gi.T @ s.x
        g[f"rnn.bias_ih_l{layer}"] += d_gi.sum(0)
        g[f"rnn.weight_hh_l{layer}"] += d_gh.T @ s.h_prev
        g[f"rnn.bias_hh_l{layer}"] += d_gh.sum(0)
        return d_gi @ w_ih, dh_prev, dc_prev
