"""Shared fixtures: tiny corpora, a private corpus cache, and small model settings for fast tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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


def interrupted_training(*args, after_s: float = 1.0) -> tuple[int, str]:
    """Start `chargen train ARGS` in a process, press Ctrl-C once training is under way and `after_s`
    has passed: (exit code, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "chargen", "train", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stderr:  # wait until training is under way
        if line.startswith("run "):
            break
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    stderr = proc.stderr.read()
    return proc.wait(timeout=60), stderr


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Every test encodes corpora into its own cache, never the user's."""
    monkeypatch.setenv("CHARGEN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def corpus_file(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path
