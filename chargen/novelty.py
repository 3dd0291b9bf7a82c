"""Is the model writing new text or copying its training text?

For a line-mode model: which generated items are in the training set, in the validation set, or new
(makemore's report).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chargen.corpus import Corpus, load_corpus
from chargen.errors import ChargenError
from chargen.vocab import Vocab


def training_corpus(payload: dict[str, Any]) -> Corpus:
    """The corpus a checkpoint was trained on, encoded with its vocabulary, as it was then."""
    saved = payload["corpus"]
    if gone := [p for p in saved["sources"] if not Path(p).is_file()]:
        raise ChargenError(f"the run's training text {gone[0]} is gone, so what the model copied from it cannot be told")
    corpus = load_corpus(saved["sources"], encoding=saved["encoding"], vocab=Vocab(payload["vocab"]))
    if corpus.sha256 != saved["sha256"]:
        raise ChargenError(f"the run's training text ({', '.join(saved['sources'])}) changed after the run was "
                           "trained, so what the model copied from it cannot be told")
    return corpus


@dataclass(frozen=True)
class ItemSets:
    """A line-mode run's training and validation items."""

    train: frozenset[str]
    val: frozenset[str]

    @classmethod
    def of(cls, payload: dict[str, Any]) -> ItemSets:
        from chargen.items import item_texts

        train, val = item_texts(training_corpus(payload), payload["train_config"]["val_fraction"])
        return cls(frozenset(train), frozenset(val))

    def where(self, item: str) -> str:
        """'train', 'val' or 'new'."""
        return "train" if item in self.train else "val" if item in self.val else "new"

    def tally(self, items: Iterable[str]) -> dict[str, int]:
        counts = {"train": 0, "val": 0, "new": 0}
        for item in items:
            counts[self.where(item)] += 1
        return counts
