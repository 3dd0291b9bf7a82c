"""Lay an encoded text out as contiguous streams and cut it into windows for truncated BPTT.

With the alphabet as the text, B = 4 streams and windows of T = 2 characters:

    stream 0:  a b | c d | e f          window 0 is the first column of pairs, window 1 the next...
    stream 1:  g h | i j | k l
    stream 2:  m n | o p | q r
    stream 3:  s t | u v | w x

Window w of each stream starts exactly where window w-1 stopped, so the hidden state left by one
window is the right starting state for the next. The target of every input character is the
character after it (teacher forcing), so each window reads T + 1 characters.

`TextData` is the whole of a run's data in this layout: training streams over the first part of the
corpus and the held-out tail for validation. Line mode (`chargen.data.items`) offers the same interface.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence

from chargen.config import TrainConfig
from chargen.data.corpus import Corpus
from chargen.errors import ChargenError

EVAL_SEQ_LEN = 256  # evaluation reads long windows: the state is carried anyway, fewer calls are faster


@dataclass
class Batch:
    """One training step's data for this process."""

    inputs: torch.Tensor | PackedSequence  # (B, T) ids, or B whole items packed
    targets: torch.Tensor  # (B, T), or the packed items' targets (N,) in packed order
    chars: int  # characters predicted in the step, all processes together
    weight: float = 1.0  # this process's loss times this is its share of the job's per-character mean


class Streams:
    """B contiguous streams over `ids`, read in windows of T with a per-epoch start offset.

    Each epoch starts at an offset in [0, slack] drawn from (seed, epoch) alone, so epochs see the
    text cut at different places while any epoch's windows can be recomputed exactly on resume.
    With `shard` = (rank, world), the text is laid out as world x B streams and this process reads
    the rank-th block of B of them: N processes together do what one does with N x B streams.
    """

    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int, seed: int = 0,
                 shard: tuple[int, int] = (0, 1)) -> None:
        self.batch_size, self.seq_len, self.seed = batch_size, seq_len, seed
        rank, world = shard
        streams = batch_size * world
        self._rows = slice(rank * batch_size, (rank + 1) * batch_size)
        stream_len = (len(ids) - 1) // streams
        if stream_len < seq_len:
            need = streams * seq_len + 1
            processes = f" x {world} processes" if world > 1 else ""
            raise ChargenError(
                f"the training text has {len(ids):,} characters, too few for one batch of "
                f"--batch-size {batch_size}{processes} x --seq-len {seq_len} (needs {need:,}); "
                "lower --batch-size or --seq-len, or add text"
            )
        whole = stream_len // seq_len
        # Keep one window spare when there is more than one, so the start can move between epochs.
        self.windows_per_epoch = whole - 1 if whole >= 2 else whole
        self.slack = stream_len - self.windows_per_epoch * seq_len
        step = ids.strides[0]
        # (B, stream_len + 1) view: no copy, also over a memory map.
        self._streams = np.lib.stride_tricks.as_strided(
            ids, shape=(streams, stream_len + 1), strides=(stream_len * step, step), writeable=False
        )

    def offset(self, epoch: int) -> int:
        if epoch == 0 or self.slack == 0:
            return 0
        return int(np.random.default_rng([self.seed, epoch]).integers(self.slack + 1))

    def window(self, epoch: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), each (B, T) int64: window `index` of epoch `epoch`."""
        start = self.offset(epoch) + index * self.seq_len
        chunk = torch.from_numpy(self._streams[self._rows, start : start + self.seq_len + 1].astype(np.int64))  # (B, T+1)
        return chunk[:, :-1], chunk[:, 1:]


class TextData:
    """A corpus read as one text: contiguous training streams, the last `val_fraction` held out."""

    carries_state = True  # the state left by one batch starts the next

    def __init__(self, corpus: Corpus, cfg: TrainConfig, shard: tuple[int, int] = (0, 1)) -> None:
        self.rank, self.world = shard
        self.batch_size, self.seq_len = cfg.batch_size, cfg.seq_len
        self.train_ids, self.val_ids = corpus.split(cfg.val_fraction)
        self.streams = Streams(self.train_ids, cfg.batch_size, cfg.seq_len, seed=cfg.seed, shard=shard)
        self.has_val = cfg.val_fraction > 0
        self.eval_seq_len = max(cfg.seq_len, EVAL_SEQ_LEN)
        if self.has_val:
            eval_windows(self.val_ids, cfg.batch_size, cfg.seq_len)  # a too-short text fails now, not at the first evaluation
        self.train_chars = len(self.train_ids)
        self.val_chars = len(self.val_ids) if self.has_val else 0
        self.train_counts = np.bincount(self.train_ids, minlength=corpus.vocab.size)  # how often each character is a target
        # --eval-chars: an evaluation reads the first windows of every validation stream, so its part
        # of a large validation text is spans spread evenly over all of it, the same spans every time.
        self.eval_windows, self.eval_chars = None, self.val_chars  # None: every window
        if self.has_val and 0 < cfg.eval_chars < self.val_chars:
            streams = eval_streams(len(self.val_ids), cfg.batch_size * self.world, self.eval_seq_len)
            self.eval_windows = math.ceil(cfg.eval_chars / (streams * self.eval_seq_len))
            self.eval_chars = min(self.val_chars, self.eval_windows * streams * self.eval_seq_len)
        self.steps_per_epoch = self.streams.windows_per_epoch
        self.chars_per_step = cfg.batch_size * cfg.seq_len * self.world

    def batch(self, epoch: int, index: int) -> Batch:
        x, y = self.streams.window(epoch, index)
        return Batch(x, y, self.chars_per_step)

    def val_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This process's share of the validation streams (every world-th), window by window, as far as
        --eval-chars reaches."""
        windows = eval_windows(self.val_ids, self.batch_size * self.world, self.eval_seq_len)
        for x, y in islice(windows, self.eval_windows):
            if len(x[self.rank :: self.world]):
                yield x[self.rank :: self.world], y[self.rank :: self.world]


def eval_windows(ids: np.ndarray, batch_size: int, seq_len: int):
    """Windows covering a whole held-out text as B' <= B contiguous streams (the last window may be shorter).

    Yields (inputs, targets) pairs of shape (B', t) with t <= T; B' shrinks for short texts so that
    each stream still spans at least one window.
    """
    if len(ids) < 2:
        raise ChargenError(
            f"the validation text has {len(ids)} characters, too few to evaluate; "
            "raise --val-fraction, or set it to 0 to train without validation"
        )
    streams = eval_streams(len(ids), batch_size, seq_len)
    stream_len = (len(ids) - 1) // streams
    step = ids.strides[0]
    view = np.lib.stride_tricks.as_strided(
        ids, shape=(streams, stream_len + 1), strides=(stream_len * step, step), writeable=False
    )
    return _windows(view, stream_len, seq_len)


def eval_streams(n_chars: int, batch_size: int, seq_len: int) -> int:
    """How many streams `eval_windows` lays a held-out text of `n_chars` out in."""
    return max(1, min(batch_size, (n_chars - 1) // seq_len))


def _windows(view: np.ndarray, stream_len: int, seq_len: int):
    for start in range(0, stream_len, seq_len):
        chunk = torch.from_numpy(view[:, start : start + seq_len + 1].astype(np.int64))
        yield chunk[:, :-1], chunk[:, 1:]
