"""What a checkpoint was trained on, read back: its corpus as it was then, its training text, and the
baselines of its validation text (chargen.data.baselines) beside its best validation loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from chargen.data.baselines import fewer_bits_than_xz, validation_baselines
from chargen.data.corpus import Corpus, load_corpus
from chargen.errors import ChargenError
from chargen.store.record import Checkpoint
from chargen.units import bits


def training_corpus(checkpoint: Checkpoint) -> Corpus:
    """The corpus a checkpoint was trained on, encoded with its vocabulary, as it was then."""
    saved = checkpoint.corpus
    if gone := [p for p in saved.sources if not Path(p).is_file()]:
        raise ChargenError(f"the run's training text {gone[0]} is gone")
    corpus = load_corpus(saved.sources, encoding=saved.encoding, vocab=checkpoint.vocab)
    if corpus.sha256 != saved.sha256:
        raise ChargenError(f"the run's training text ({', '.join(saved.sources)}) changed after the run was trained")
    return corpus


def training_ids(checkpoint: Checkpoint) -> np.ndarray | None:
    """The text the model was trained on, encoded: its corpus less the validation part (a line-mode model's
    items are drawn apart, so there the whole corpus); None where it is gone, changed or unreadable."""
    try:
        corpus = training_corpus(checkpoint)
    except (ChargenError, OSError):
        return None
    return corpus.ids if checkpoint.lines else corpus.split(checkpoint.train_config.val_fraction)[0]


def validation_baselines_of(checkpoint: Checkpoint) -> dict:
    """{"val_baselines_bpc": ..., "fewer_bits_than_xz": ...} for a text model with a validation loss whose
    training text is still there as it was; {} otherwise (what else is said of the model stands without them)."""
    best = checkpoint.position.best_val_loss
    if best is None or checkpoint.lines:
        return {}
    try:
        found = validation_baselines(training_corpus(checkpoint), checkpoint.train_config.val_fraction)
    except (ChargenError, OSError):  # gone, changed or unreadable
        return {}
    return {"val_baselines_bpc": found, "fewer_bits_than_xz": fewer_bits_than_xz(bits(best), found)} if found else {}
