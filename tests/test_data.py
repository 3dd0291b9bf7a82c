import numpy as np
import pytest
import torch

from chargen.config import TrainConfig
from chargen.data.corpus import load_corpus
from chargen.data.streams import Streams, TextData, eval_windows
from chargen.errors import ChargenError

ALPHABET = np.arange(26, dtype=np.uint8)  # a..z as 0..25


def letters(t):
    return ["".join(chr(97 + int(i)) for i in row) for row in t]


def test_streams_are_contiguous_and_windows_continue_each_other():
    streams = Streams(ALPHABET[:25], batch_size=4, seq_len=2)  # stream length (25 - 1) // 4 = 6
    x0, y0 = streams.window(0, 0)
    x1, _ = streams.window(0, 1)
    assert letters(x0) == ["ab", "gh", "mn", "st"]
    assert letters(y0) == ["bc", "hi", "no", "tu"]  # teacher forcing: the target is the next character
    assert letters(x1) == ["cd", "ij", "op", "uv"]
    assert x0.dtype == np.int64 or str(x0.dtype) == "torch.int64"


def test_later_epochs_start_at_a_seeded_offset_within_the_slack():
    streams = Streams(np.arange(1000, dtype=np.int32), batch_size=2, seq_len=10, seed=3)
    assert streams.windows_per_epoch == 48 and streams.slack == 19
    offsets = {streams.offset(e) for e in range(1, 30)}
    assert len(offsets) > 1 and all(0 <= o <= streams.slack for o in offsets)
    assert streams.offset(7) == Streams(np.arange(1000, dtype=np.int32), 2, 10, seed=3).offset(7)
    x, y = streams.window(5, streams.windows_per_epoch - 1)  # the last window of any epoch fits
    assert x.shape == (2, 10) and np.array_equal(x[:, 1:], y[:, :-1])


def test_too_small_a_text_names_the_minimum_and_the_options():
    with pytest.raises(ChargenError, match=r"needs 65\b.*lower --batch-size or --seq-len"):
        Streams(np.arange(50, dtype=np.uint8), batch_size=4, seq_len=16)


def test_eval_windows_cover_the_whole_text():
    ids = np.arange(101, dtype=np.int32)
    windows = list(eval_windows(ids, batch_size=4, seq_len=10))
    targets = np.concatenate([y.numpy() for _, y in windows], axis=1)
    assert targets.shape == (4, 25)
    assert np.array_equal(np.sort(targets.ravel()), np.arange(1, 101))


def test_eval_windows_shrink_the_batch_for_short_texts():
    (x, y), = list(eval_windows(np.arange(12, dtype=np.int32), batch_size=8, seq_len=16))
    assert x.shape == (1, 11)


def text_data(tmp_path, n_chars=40_000, **options):
    rng = np.random.default_rng(0)
    path = tmp_path / "random.txt"
    path.write_text("".join(rng.choice(list("abcdefgh \n"), n_chars)))
    cfg = TrainConfig(**{"batch_size": 4, "seq_len": 16, "val_fraction": 0.5, **options})
    return TextData(load_corpus([path]), cfg)


def test_an_evaluation_part_is_the_same_spans_spread_over_the_whole_validation_text(tmp_path):
    whole = list(text_data(tmp_path).val_batches())
    data = text_data(tmp_path, eval_chars=3_000)
    part = list(data.val_batches())
    # The first windows of each of the 4 streams, which start a quarter of the text apart.
    assert len(part) == 3 and sum(y.numel() for _, y in part) == data.eval_chars == 3 * 4 * 256
    assert all(torch.equal(a[1], b[1]) for a, b in zip(part, whole))
    assert [torch.equal(a[1], b[1]) for a, b in zip(part, list(data.val_batches()))] == [True] * 3


def test_a_part_as_large_as_the_validation_text_reads_all_of_it(tmp_path):
    data = text_data(tmp_path, eval_chars=20_000)
    assert data.eval_chars == data.val_chars and data.eval_windows is None
