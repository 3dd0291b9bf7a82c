"""How surprised a model is by each character of a text: -log2 of the probability it gave it, and what
it expected instead.

The text is read the way the model generates: after a newline (a line-mode model reads each line as
an item, from the start state, and its end, the newline, is predicted too), with the state carried
from each character to the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chargen.errors import ChargenError
from chargen.generate.sample import StepModel
from chargen.data.vocab import ITEM_BOUNDARY, Vocab, describe_chars

TOP = 5  # alternatives kept for each character


@dataclass(frozen=True)
class CharSurprise:
    char: str
    prob: float  # the probability the model gave this character
    bits: float  # -log2(prob)
    expected: tuple[tuple[str, float], ...]  # the TOP likeliest characters and their probabilities


@dataclass(frozen=True)
class LineSurprise:
    text: str
    bpc: float  # bits per character over the line (and its end)


@dataclass(frozen=True)
class Surprise:
    chars: list[CharSurprise]

    @property
    def bpc(self) -> float:
        return float(np.mean([c.bits for c in self.chars])) if self.chars else 0.0

    def lines(self) -> list[LineSurprise]:
        """Per line: its text and its bits per character, the newline that ends it included."""
        out, start = [], 0
        for i, c in enumerate(self.chars):
            if c.char == "\n" or i == len(self.chars) - 1:
                part = self.chars[start : i + 1]
                out.append(LineSurprise("".join(p.char for p in part).rstrip("\n"), float(np.mean([p.bits for p in part]))))
                start = i + 1
        return out

    def most_surprising(self, count: int) -> list[int]:
        """Positions of the `count` most surprising characters, in text order."""
        order = np.argsort([-c.bits for c in self.chars], kind="stable")[:count]
        return sorted(order.tolist())


def surprise(model: StepModel, vocab: Vocab, text: str, items: bool = False) -> Surprise:
    """Every character of `text` with the probability `model` gave it in context."""
    if not text:
        raise ChargenError("the text is empty; give some text to look at")
    if missing := vocab.unknown(text):
        raise ChargenError(f"the text has characters the model never saw, {describe_chars(missing)}; "
                           "leave them out or use a model trained on them")
    start = ITEM_BOUNDARY if ITEM_BOUNDARY in vocab else vocab.chars[0]
    state = model.init_state(1)
    logits = model.step(vocab.encode(start).astype(np.int64), state)
    out = []
    for ch, i in zip(text, vocab.encode(text).astype(np.int64)):
        z = logits[0].astype(np.float64)
        p = np.exp(z - z.max())
        p /= p.sum()
        top = np.argsort(-p)[:TOP]
        out.append(CharSurprise(ch, float(p[i]), float(-np.log2(max(p[i], 1e-300))),
                                tuple((vocab.chars[j], float(p[j])) for j in top)))
        if items and ch == ITEM_BOUNDARY:  # a line-mode model starts every item afresh
            state = model.init_state(1)
        logits = model.step(np.array([i]), state)
    return Surprise(out)
