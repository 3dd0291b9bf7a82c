"""Generation: a fast per-step copy of a trained model, next-character sampling, and streaming.

At batch 1 a step of a 2x256 LSTM is a few dozen tiny operations, so what costs is per-call
overhead, not arithmetic. `StepModel` therefore runs the recurrence in NumPy on the stored weights,
with the first layer's input projection (embedding x input weights + biases) precomputed as a
(V, G*H) lookup table and the later layers' input and recurrent matrices stacked into one. It gives
the training model's distribution to float tolerance (tests check it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from chargen.config import ModelConfig, SamplingSettings
from chargen.data.vocab import ITEM_BOUNDARY, Vocab, describe_chars
from chargen.errors import ChargenError
from chargen.store.weights import as_float32

if TYPE_CHECKING:
    from chargen.store.record import Checkpoint


# Below this many weights the NumPy step (tens of microseconds) always wins, so `--device auto` does not
# even start CUDA (or import torch); above it chargen.generate.cudastep times the two paths.
MIN_WEIGHTS_FOR_GPU = 2_000_000


def start_char(chars: str) -> str:
    """What generation without a prime follows: a newline, else a space, else the first character."""
    return next((ch for ch in ("\n", " ") if ch in chars), chars[0])


def next_ids(logits: np.ndarray, settings: SamplingSettings, rng: np.random.Generator) -> np.ndarray:
    """Draw one id per row of logits (B, V) -> (B,), a pure function of its arguments."""
    if settings.temperature == 0:
        return logits.argmax(axis=1)
    return pick(cumulative(logits, settings), rng.random(len(logits)))


def cumulative(logits: np.ndarray, settings: SamplingSettings) -> np.ndarray:
    """(B, V) running sums of each row's distribution under `settings` (temperature above 0), row by row:
    a row's sums do not depend on the rows beside it, so streams batched together draw as they would alone."""
    scaled = logits.astype(np.float64) / settings.temperature
    if settings.top_k is not None and settings.top_k < scaled.shape[1]:
        kth = np.partition(scaled, -settings.top_k, axis=1)[:, -settings.top_k][:, None]
        scaled = np.where(scaled >= kth, scaled, -np.inf)
    probs = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    if settings.top_p is not None and settings.top_p < 1.0:
        order = np.argsort(-probs, axis=1)
        sorted_probs = np.take_along_axis(probs, order, axis=1)
        before = np.cumsum(sorted_probs, axis=1) - sorted_probs  # mass of the more likely characters
        keep_sorted = before < settings.top_p  # the top character always stays
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(axis=1, keepdims=True)
    return np.cumsum(probs, axis=1)


def pick(cumulative: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """The id each row's uniform draw in [0, 1) falls on: (B, V), (B,) -> (B,)."""
    draws = uniforms[:, None] * cumulative[:, -1:]
    return np.minimum((cumulative <= draws).sum(axis=1), cumulative.shape[1] - 1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # tanh form: one transcendental instead of exp plus a division, and no overflow warnings.
    np.multiply(x, 0.5, out=x)
    np.tanh(x, out=x)
    np.multiply(x, 0.5, out=x)
    np.add(x, 0.5, out=x)
    return x


class StepModel:
    """A trained CharRNN run one character at a time in NumPy (float32), for B sequences at once."""

    def __init__(self, config: ModelConfig, weights: dict) -> None:
        self.config = config
        w = {k: as_float32(v) for k, v in weights.items()}
        c = config
        H, G = c.hidden_size, c.gates
        self.cell = c.cell
        self.layers = c.layers
        self.hidden_size = H
        # LSTM gates are stored i, f, g, o; reorder to i, f, o, g so one sigmoid covers three.
        perm = np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H] if c.cell == "lstm" else np.arange(G * H)
        bias_together = c.cell != "gru"  # GRU keeps the recurrent bias inside r * (W_hn h + b_hn)

        inputs = w["embed.weight"] if c.embed_dim else np.eye(c.vocab_size, dtype=np.float32)  # (V, E) or (V, V)
        table = inputs @ w["rnn.weight_ih_l0"].T + w["rnn.bias_ih_l0"]  # (V, G*H)
        if bias_together:
            table += w["rnn.bias_hh_l0"]
        self.table = np.ascontiguousarray(table[:, perm])
        self.w_ih = [None] + [np.ascontiguousarray(w[f"rnn.weight_ih_l{k}"].T[:, perm]) for k in range(1, c.layers)]
        self.w_hh = [np.ascontiguousarray(w[f"rnn.weight_hh_l{k}"].T[:, perm]) for k in range(c.layers)]
        self.b_ih = [None] + [w[f"rnn.bias_ih_l{k}"][perm] for k in range(1, c.layers)]
        self.b_hh = [w[f"rnn.bias_hh_l{k}"][perm] for k in range(c.layers)]
        if bias_together:
            # One (2H, G*H) matrix for [x, h] and one bias per upper layer: one matmul instead of two.
            self.w_cat = [None] + [np.vstack([self.w_ih[k], self.w_hh[k]]) for k in range(1, c.layers)]
            self.b_cat = [None] + [self.b_ih[k] + self.b_hh[k] for k in range(1, c.layers)]
        self.head_w = np.ascontiguousarray(w["head.weight"].T)  # (H, V)
        self.head_b = w["head.bias"]

    def init_state(self, batch_size: int) -> list[np.ndarray]:
        """[h_0..h_{L-1}] (+ [c_0..c_{L-1}] for an LSTM), each (B, H)."""
        n = 2 * self.layers if self.cell == "lstm" else self.layers
        return [np.zeros((batch_size, self.hidden_size), np.float32) for _ in range(n)]

    def step(self, ids: np.ndarray, state: list[np.ndarray]) -> np.ndarray:
        """Consume ids (B,) and update `state` in place -> logits (B, V) for the next character."""
        H, L = self.hidden_size, self.layers
        x = None
        for k in range(L):
            h = state[k]
            if self.cell == "gru":
                gi = self.table[ids] if k == 0 else x @ self.w_ih[k] + self.b_ih[k]  # (B, 3H)
                gh = h @ self.w_hh[k] + self.b_hh[k]  # (B, 3H)
                rz = _sigmoid(gi[:, : 2 * H] + gh[:, : 2 * H])
                n = np.tanh(gi[:, 2 * H :] + rz[:, :H] * gh[:, 2 * H :])
                z = rz[:, H:]
                h[...] = n + z * (h - n)  # (1 - z) * n + z * h
            else:
                if k == 0:
                    gates = self.table[ids] + h @ self.w_hh[0]  # (B, G*H)
                else:
                    gates = np.concatenate([x, h], axis=1) @ self.w_cat[k] + self.b_cat[k]
                if self.cell == "lstm":
                    c = state[L + k]
                    _sigmoid(gates[:, : 3 * H])
                    g = np.tanh(gates[:, 3 * H :])
                    c *= gates[:, H : 2 * H]
                    c += gates[:, :H] * g
                    np.multiply(gates[:, 2 * H : 3 * H], np.tanh(c), out=h)
                elif self.cell == "rnn-tanh":
                    np.tanh(gates, out=h)
                else:
                    np.maximum(gates, 0.0, out=h)
            x = h
        return x @ self.head_w + self.head_b  # (B, V)


class Sampler:
    """Carries B sequences' state and the distribution of their next character between calls.

    After every character it emits, the sampler has already consumed it, so a later `stream` call
    continues exactly where the last one stopped.
    """

    def __init__(self, model: StepModel, vocab: Vocab, settings: SamplingSettings, seed: int | None = None,
                 batch_size: int = 1) -> None:
        self.model, self.vocab, self.settings = model, vocab, settings
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        """Forget all context: zero state, and the next character follows the start character."""
        self.state = self.model.init_state(self.batch_size)
        self.logits: np.ndarray | None = None

    def reseed(self, seed: int | None) -> None:
        self.rng = np.random.default_rng(seed)

    @property
    def start_char(self) -> str:
        return start_char(self.vocab.chars)

    def feed(self, text: str) -> None:
        """Warm the state on `text` (the same text for every sequence)."""
        missing = self.vocab.unknown(text)
        if missing:
            raise ChargenError(f"the prime has characters the model never saw, {describe_chars(missing)}")
        ids = self.vocab.encode(text)
        for i in ids:
            self.logits = self.model.step(np.full(self.batch_size, i), self.state)

    def step_ids(self) -> np.ndarray:
        """Draw the next id of every sequence (B,) and consume it."""
        if self.logits is None:
            self.feed(self.start_char)
        ids = next_ids(self.logits, self.settings, self.rng)
        self.logits = self.model.step(ids, self.state)
        return ids

    def probabilities(self) -> np.ndarray:
        """The model's next-character distribution (B, V) at temperature 1."""
        if self.logits is None:
            self.feed(self.start_char)
        z = self.logits.astype(np.float64)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    def stream(self, length: int, stop: str | None = None) -> Iterator[list[str]]:
        """Yield a list of B characters per step, `length` steps; a sequence that has produced
        `stop` yields '' from then on, and the stream ends when all have."""
        done = [False] * self.batch_size
        tails = [""] * self.batch_size
        for _ in range(length):
            ids = self.step_ids()
            out = []
            for b, i in enumerate(ids):
                ch = "" if done[b] else self.vocab.chars[i]
                if stop and not done[b]:
                    tails[b] = (tails[b] + ch)[-len(stop):]
                    done[b] = tails[b] == stop
                out.append(ch)
            yield out
            if all(done):
                return


def generate_items(sampler: Sampler, prime: str = "", max_length: int = 200) -> list[str]:
    """One complete item per sequence of a line-mode model's sampler, each from the start state.

    Every item is read after the item boundary (and `prime`, its given beginning) and ends where the
    model writes the boundary; `max_length` guards against one that never ends.
    """
    sampler.reset()
    sampler.feed(ITEM_BOUNDARY + prime)
    columns = zip(*sampler.stream(max_length, stop=ITEM_BOUNDARY))
    return [prime + "".join(chars).removesuffix(ITEM_BOUNDARY) for chars in columns]


def sampler_for(checkpoint: Checkpoint, settings: SamplingSettings = SamplingSettings(), seed: int | None = None,
                batch_size: int = 1, device: str = "cpu") -> Sampler:
    """A checkpoint's model, ready to generate: B sequences drawn with `settings` from a generator seeded
    with `seed`. `device` cpu runs the NumPy step model; cuda[:N] or auto may run it on a GPU
    (chargen.generate.cudastep)."""
    small = checkpoint.model_config.matmul_params() < MIN_WEIGHTS_FOR_GPU
    if device == "cpu" or (device == "auto" and (small or not _may_have_a_gpu())):  # NumPy alone: no torch
        model = StepModel(checkpoint.model_config, checkpoint.weights)
    else:
        from chargen.generate.cudastep import fastest_step_model

        model = fastest_step_model(checkpoint.model_config, checkpoint.weights, device)
    return Sampler(model, checkpoint.vocab, settings, seed=seed, batch_size=batch_size)


def _may_have_a_gpu() -> bool:
    """Whether an NVIDIA driver is loaded (Linux), without importing torch to ask CUDA; elsewhere, perhaps."""
    import os
    import sys

    return not sys.platform.startswith("linux") or os.path.exists("/proc/driver/nvidia/version")


def sample_text(model: StepModel, vocab: Vocab, length: int = 160, temperature: float = 0.8,
                seed: int | None = None, items: bool = False) -> str:
    """What a model writes: `length` characters, or for a line-mode model whole items, one per line,
    until about that many characters."""
    settings = SamplingSettings(temperature)
    if not items:
        return "".join(chars[0] for chars in Sampler(model, vocab, settings, seed=seed).stream(length))
    sampler, found = Sampler(model, vocab, settings, seed=seed, batch_size=8), []
    while sum(len(item) + 1 for item in found) < length:
        found += generate_items(sampler, max_length=length)
    return "\n".join(found)


def preview(config: ModelConfig, vocab: Vocab, weights: dict, seed: int, items: bool) -> str:
    """What a model in training writes now, for the log (chargen.train.loop.Preview)."""
    return sample_text(StepModel(config, weights), vocab, seed=seed, items=items)
