"""Line mode: a corpus of items, one per line (names, titles, ...), each its own training example.

Every item starts from a fresh state and is read after a newline, which also follows it as its
target: the model learns where items begin and end, with '\\n' as the item boundary it already has in
its vocabulary. For "Emma", B = 3 items in a batch:

    inputs   \\n E m m a        targets  E m m a \\n
    inputs   \\n B o          targets  B o \\n
    inputs   \\n A n n        targets  A n n \\n

Items of different lengths go through the recurrent layers as one packed sequence
(torch.nn.utils.rnn.PackedSequence), so no step is spent on padding. Each epoch shuffles whole items;
validation is a fixed random share of the items, not the end of the file.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from chargen.config import TrainConfig
from chargen.data.corpus import Corpus
from chargen.data.streams import Batch
from chargen.errors import ChargenError
from chargen.data.vocab import ITEM_BOUNDARY, Vocab

SPLIT_SEED = 0  # the validation items are the same whatever --seed a run has, so runs compare


def find_items(ids: np.ndarray, vocab: Vocab) -> tuple[np.ndarray, np.ndarray]:
    """(starts, lengths) of the non-empty lines of `ids`; a line's trailing '\\r' is not part of it."""
    if ITEM_BOUNDARY not in vocab:
        return np.zeros(1, np.int64), np.array([len(ids)], np.int64)
    breaks = np.flatnonzero(ids == vocab.encode(ITEM_BOUNDARY)[0])
    starts = np.concatenate([[0], breaks + 1]).astype(np.int64)
    ends = np.concatenate([breaks, [len(ids)]]).astype(np.int64)
    if "\r" in vocab:
        ends -= (ends > starts) & (ids[np.maximum(ends - 1, 0)] == vocab.encode("\r")[0])
    keep = ends > starts
    return starts[keep], (ends - starts)[keep]


def mean_item_chars(corpus: Corpus) -> float:
    """The characters a training step spends on an item on average: the item and its end."""
    _, lengths = find_items(corpus.ids, corpus.vocab)
    return float(lengths.mean()) + 1.0


def split_items(count: int, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) item indices: a fixed random share of the items is held out."""
    order = np.random.default_rng(SPLIT_SEED).permutation(count)
    n_val = int(round(count * val_fraction)) if val_fraction > 0 else 0
    if val_fraction > 0 and n_val == 0 and count >= 2:
        n_val = 1
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def item_texts(corpus: Corpus, val_fraction: float) -> tuple[set[str], set[str]]:
    """The training and the validation items of a line-mode corpus, as text."""
    starts, lengths = find_items(corpus.ids, corpus.vocab)
    train, val = split_items(len(starts), val_fraction)

    def texts(which: np.ndarray) -> set[str]:
        return {corpus.vocab.decode(corpus.ids[starts[i] : starts[i] + lengths[i]]) for i in which}

    return texts(train), texts(val)


def pack(ids: np.ndarray, starts: np.ndarray, lengths: np.ndarray, boundary: int) -> tuple[PackedSequence, torch.Tensor]:
    """Items as one packed batch: (inputs, the targets in the packed order (N,)), N = sum(lengths + 1)."""
    steps = lengths + 1  # the boundary before the first character, then the characters
    t = np.arange(int(steps.max()))[None, :]  # (1, T)
    inside = t < lengths[:, None]  # (B, T)
    positions = np.minimum(starts[:, None] + t, len(ids) - 1)
    targets = np.where(inside, ids[positions], boundary).astype(np.int64)  # (B, T): the item, then the boundary
    inputs = np.concatenate([np.full((len(starts), 1), boundary, np.int64), targets[:, :-1]], axis=1)
    lens = torch.from_numpy(steps)
    x = pack_padded_sequence(torch.from_numpy(inputs), lens, batch_first=True, enforce_sorted=False)
    y = pack_padded_sequence(torch.from_numpy(targets), lens, batch_first=True, enforce_sorted=False)
    return x, y.data


class ItemData:
    """A line-mode corpus: items shuffled whole each epoch, B of them a step for each process."""

    carries_state = False  # every item starts from a fresh state

    def __init__(self, corpus: Corpus, cfg: TrainConfig, shard: tuple[int, int] = (0, 1)) -> None:
        self.rank, self.world = shard
        self.batch_size, self.seed = cfg.batch_size, cfg.seed
        if ITEM_BOUNDARY not in corpus.vocab:
            raise ChargenError("--lines takes one item per line, and the corpus is a single line; "
                               "put each item on a line of its own")
        self.ids = corpus.ids
        self.boundary = int(corpus.vocab.encode(ITEM_BOUNDARY)[0])
        self.starts, self.lengths = find_items(corpus.ids, corpus.vocab)
        self.train, self.val = split_items(len(self.starts), cfg.val_fraction)
        self.has_val = len(self.val) > 0
        if cfg.val_fraction > 0 and not self.has_val:
            raise ChargenError(f"the corpus has {len(self.starts)} item(s), too few to hold some out for validation; "
                               "add items, or pass --val-fraction 0")
        global_batch = cfg.batch_size * self.world
        if len(self.train) < global_batch:
            processes = f" x {self.world} processes" if self.world > 1 else ""
            raise ChargenError(f"the corpus has {len(self.train):,} items for training, fewer than one batch of "
                               f"--batch-size {cfg.batch_size}{processes}; lower --batch-size or add items")
        self.train_chars = int((self.lengths[self.train] + 1).sum())
        # How often each character is a target: the training items' characters, and one end each.
        edges = np.zeros(len(self.ids) + 1, dtype=np.int8)  # +1 where a training item starts, -1 at its end
        edges[self.starts[self.train]] = 1
        edges[self.starts[self.train] + self.lengths[self.train]] = -1  # a line end, never another item's start
        inside = np.cumsum(edges[:-1], dtype=np.int8).astype(bool)
        self.train_counts = np.bincount(self.ids[inside], minlength=corpus.vocab.size)
        self.train_counts[self.boundary] += len(self.train)
        self.val_chars = int((self.lengths[self.val] + 1).sum())
        # --eval-chars: an evaluation reads the first of the (randomly chosen) validation items.
        self.eval_items, self.eval_chars = self.val, self.val_chars
        if 0 < cfg.eval_chars < self.val_chars:
            read = np.cumsum(self.lengths[self.val] + 1)
            self.eval_items = self.val[: max(1, int(np.searchsorted(read, cfg.eval_chars, side="right")))]
            self.eval_chars = int((self.lengths[self.eval_items] + 1).sum())
        self.steps_per_epoch = len(self.train) // global_batch
        self.chars_per_step = round(self.train_chars / len(self.train) * global_batch)  # on average

    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.train)

    def batch(self, epoch: int, index: int) -> Batch:
        B = self.batch_size
        everyone = self._order(epoch)[index * B * self.world : (index + 1) * B * self.world]
        mine = everyone[self.rank * B : (self.rank + 1) * B]
        x, y = pack(self.ids, self.starts[mine], self.lengths[mine], self.boundary)
        chars = int((self.lengths[everyone] + 1).sum())
        # Processes hold different numbers of characters: weighting each one's mean by its share makes
        # the average DistributedDataParallel takes the job's per-character mean.
        return Batch(x, y, chars, weight=len(y) * self.world / chars)

    def val_batches(self) -> Iterator[tuple[PackedSequence, torch.Tensor]]:
        """This process's share of the validation items (every world-th), in packed batches."""
        mine = self.eval_items[self.rank :: self.world]
        return packed_batches(self.ids, self.starts[mine], self.lengths[mine], self.boundary,
                              self.batch_size * self.world)


def packed_batches(ids: np.ndarray, starts: np.ndarray, lengths: np.ndarray, boundary: int,
                   batch_size: int) -> Iterator[tuple[PackedSequence, torch.Tensor]]:
    for i in range(0, len(starts), batch_size):
        yield pack(ids, starts[i : i + batch_size], lengths[i : i + batch_size], boundary)


def all_item_batches(ids: np.ndarray, vocab: Vocab, batch_size: int = 256) -> Iterator[tuple[PackedSequence, torch.Tensor]]:
    """Every item of an encoded text, in packed batches (to evaluate a text in line mode)."""
    starts, lengths = find_items(ids, vocab)
    return packed_batches(ids, starts, lengths, int(vocab.encode(ITEM_BOUNDARY)[0]), batch_size)
