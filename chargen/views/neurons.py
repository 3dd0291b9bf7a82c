"""Interpretable cells (Karpathy, Johnson and Fei-Fei, "Visualizing and Understanding Recurrent Networks",
2015): what each unit holds at every character, which units track simple properties of the text, and
how often an LSTM's gates sit saturated.

A unit's activation is tanh(c_t) for an LSTM (what its cell holds) and h_t for the others, computed
by the equations of `chargen.model.equations` on the model's weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chargen.model.equations import Network
from chargen.errors import ChargenError
from chargen.data.vocab import ITEM_BOUNDARY, Vocab, describe_chars

OPENERS, CLOSERS = "([{", ")]}"
SATURATED = 0.1  # a gate below this is left-saturated, above 1 - this right-saturated (the paper's Figure 3)


@dataclass(frozen=True)
class Activations:
    text: str
    layer: int
    values: np.ndarray  # (N, H): each unit at each character, after reading it
    gates: dict[str, np.ndarray]  # each gate at each character, (N, H): LSTM i, f, g, o; GRU r, z, n


@dataclass(frozen=True)
class Tracker:
    """A unit whose activation follows a property of the text."""

    feature: str
    cell: int
    r: float  # Pearson correlation of the unit with the property over the text


def activations(net: Network, vocab: Vocab, text: str, layer: int | None = None, items: bool = False) -> Activations:
    """Every unit of `layer` (default: the top one) at every character of `text`, read after a newline.

    A line-mode model (`items`) reads each line from the start state, as it was trained to.
    """
    if not text:
        raise ChargenError("the text is empty; give some text to look at")
    if missing := vocab.unknown(text):
        raise ChargenError(f"the text has characters the model never saw, {describe_chars(missing)}; "
                           "leave them out or use a model trained on them")
    layer = net.layers - 1 if layer is None else layer
    if not 0 <= layer < net.layers:
        raise ChargenError(f"--layer must be from 0 to {net.layers - 1}: the model has {net.layers} layer(s)")
    start = vocab.encode(ITEM_BOUNDARY if ITEM_BOUNDARY in vocab else vocab.chars[0]).astype(np.int64)
    ids = vocab.encode(text).astype(np.int64)
    if items:
        cuts = [0] + [i + 1 for i, ch in enumerate(text) if ch == ITEM_BOUNDARY and i + 1 < len(text)] + [len(text)]
        pieces = [ids[a:b] for a, b in zip(cuts, cuts[1:])]
    else:
        pieces = [ids]
    runs = [net.forward(np.concatenate([start, piece])[None, :]) for piece in pieces]  # step 0 reads the start
    values = np.concatenate([run.cells(layer)[0, 1:] for run in runs])
    names = runs[0].steps[layer][0].gates
    gates = {g: np.concatenate([run.gate(layer, g)[0, 1:] for run in runs]) for g in names}
    return Activations(text, layer, values, gates)


def text_features(text: str) -> dict[str, np.ndarray]:
    """Simple properties of each character of a text, each (N,): the paper's quote and bracket cells,
    line position, word starts, and indentation for code."""
    n = len(text)
    quote, depth, column, indent = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    word_start, after_newline = np.zeros(n), np.zeros(n)
    inside, level, col, leading, at_line_start = False, 0, 0, 0, True
    prev = "\n"
    for i, ch in enumerate(text):
        if ch == '"':
            inside = not inside
        if ch in OPENERS:
            level += 1
        quote[i], depth[i] = inside, level
        if ch in CLOSERS:
            level = max(level - 1, 0)
        column[i] = col
        if at_line_start and ch == " ":
            leading += 1
        elif at_line_start:
            at_line_start = False
        indent[i] = leading
        word_start[i] = ch.isalpha() and not prev.isalnum()
        after_newline[i] = prev == "\n"
        col += 1
        if ch == "\n":
            col, leading, at_line_start = 0, 0, True
        prev = ch
    features = {"inside quotes": quote, "bracket depth": depth, "position in line": column,
                "start of a word": word_start, "after a newline": after_newline}
    if indent.any():
        features["indentation"] = indent
    return features


def correlations(values: np.ndarray, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Pearson correlation of every unit (N, H) with every feature: {feature: (H,)}; a constant feature
    or unit correlates with nothing (0)."""
    v = values - values.mean(0)
    v_norm = np.sqrt((v**2).sum(0))
    out = {}
    for name, f in features.items():
        f = f - f.mean()
        f_norm = np.sqrt((f**2).sum())
        denom = v_norm * f_norm
        out[name] = np.divide(f @ v, denom, out=np.zeros_like(v_norm), where=denom > 0)
    return out


def trackers(acts: Activations, features: dict[str, np.ndarray] | None = None) -> list[Tracker]:
    """For each property, the unit that follows it most closely, strongest first."""
    found = []
    for name, r in correlations(acts.values, features or text_features(acts.text)).items():
        cell = int(np.argmax(np.abs(r)))
        found.append(Tracker(name, cell, float(r[cell])))
    return sorted(found, key=lambda t: -abs(t.r))


@dataclass(frozen=True)
class Saturation:
    gate: str
    left: np.ndarray  # (H,) the fraction of characters at which each unit's gate is below SATURATED
    right: np.ndarray  # (H,) ... above 1 - SATURATED


def gate_saturation(acts: Activations) -> list[Saturation]:
    """How often each unit's input, forget and output gates are saturated, over the text (LSTM only)."""
    if "f" not in acts.gates:
        raise ChargenError("--gates is for LSTM models: only they have input, forget and output gates")
    return [Saturation(label, (acts.gates[g] < SATURATED).mean(0), (acts.gates[g] > 1 - SATURATED).mean(0))
            for g, label in (("i", "input"), ("f", "forget"), ("o", "output"))]
