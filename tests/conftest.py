"""Shared fixtures: tiny corpora, a private corpus cache, and small model settings for fast tests."""

from __future__ import annotations

from pathlib import Path

import pytest

TINYSHAKESPEARE = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "tinyshakespeare.txt"

TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\n"
    "All:\nResolved. resolved.\n\n"
) * 12

# Options that make a model and a run tiny: seconds, not minutes.
TINY_MODEL = {"layers": 2, "hidden_size": 24, "embed_dim": 8}
TINY_TRAIN = {"batch_size": 4, "seq_len": 16, "warmup_steps": 2, "eval_every": 4}


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Every test encodes corpora into its own cache, never the user's."""
    monkeypatch.setenv("CHARGEN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def corpus_file(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path
