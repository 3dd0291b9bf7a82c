import errno
import os
from pathlib import Path

import pytest
import torch

from chargen.config import ModelConfig
from chargen.data.vocab import Vocab
from chargen.errors import ChargenError
from chargen.model.charrnn import CharRNN
from chargen.store.checkpoint import load_checkpoint, read_payload, save_checkpoint, weights_digest
from chargen.store.record import FORMAT_VERSION, Checkpoint, CorpusFacts

FIXTURE = Path(__file__).parent / "fixtures" / "main-0.1"  # a run written by chargen before the typed checkpoint


def model_checkpoint(seed=0):
    torch.manual_seed(seed)
    config = ModelConfig(vocab_size=7, hidden_size=8, embed_dim=3)
    model = CharRNN(config)
    return model, Checkpoint(config, Vocab("abcdefg"), model.state_dict(), CorpusFacts(["letters.txt"]))


def model_payload(seed=0):
    model, checkpoint = model_checkpoint(seed)
    return model, checkpoint.payload()


def test_round_trip_gives_identical_logits(tmp_path):
    model, checkpoint = model_checkpoint()
    save_checkpoint(tmp_path / "m.pt", checkpoint)
    loaded = load_checkpoint(tmp_path / "m.pt")
    again = CharRNN.trained(loaded.model_config, loaded.weights)
    ids = torch.randint(0, 7, (2, 9))
    assert torch.equal(model(ids)[0], again(ids)[0])
    assert loaded.vocab.chars == "abcdefg" and loaded.format_version == FORMAT_VERSION
    assert loaded.weights_sha256 == weights_digest(model.state_dict()) == checkpoint.weights_sha256
    assert loaded.payload().keys() == checkpoint.payload().keys()


@pytest.mark.parametrize("name", ["best.pt", "latest.pt"])
def test_a_checkpoint_written_before_the_typed_record_loads_whole(name):
    """The file's keys are unchanged: what an older chargen wrote reads back field for field."""
    raw = read_payload(FIXTURE / name)
    loaded = load_checkpoint(FIXTURE / name)
    assert loaded.payload().keys() == {k for k in raw if k not in ("format_version", "weights_sha256")}
    assert loaded.model_config == ModelConfig.saved(raw["model_config"]) and loaded.vocab.chars == raw["vocab"]
    assert loaded.position.step == raw["position"]["step"] == 12 and loaded.corpus.sources == raw["corpus"]["sources"]
    assert (loaded.resume is not None) == (name == "latest.pt")
    assert weights_digest(loaded.weights) == raw["weights_sha256"]


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("force_unsafe_env", [False, True])
def test_a_pickle_payload_is_refused_and_never_runs(tmp_path, monkeypatch, force_unsafe_env):
    if force_unsafe_env:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    _, payload = model_payload()
    torch.save({**payload, "format_version": 1, "evil": Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(ChargenError, match="could run code; refusing"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()


def saved(tmp_path):
    _, checkpoint = model_checkpoint()
    path = tmp_path / "m.pt"
    save_checkpoint(path, checkpoint)
    return path


def test_empty_and_truncated_files_are_reported_corrupt(tmp_path):
    path = saved(tmp_path)
    data = path.read_bytes()
    for size in (0, 10, len(data) // 2, len(data) - 30):
        path.write_bytes(data[:size])
        with pytest.raises(ChargenError, match=f"checkpoint {path} is corrupt"):
            load_checkpoint(path)


def test_a_flipped_bit_anywhere_is_reported_corrupt_or_harmless(tmp_path):
    path = saved(tmp_path)
    data = path.read_bytes()
    original = load_checkpoint(path).weights
    reported = 0
    for position in range(0, len(data), max(1, len(data) // 400)):
        flipped = bytearray(data)
        flipped[position] ^= 0x10
        path.write_bytes(bytes(flipped))
        try:
            weights = load_checkpoint(path).weights
        except ChargenError as e:
            assert "corrupt" in str(e) or "not a chargen checkpoint" in str(e)
            reported += 1
        else:  # only padding and zip-header slack may flip unnoticed: the content is then unchanged
            assert all(torch.equal(weights[k], original[k]) for k in original)
    assert reported > 300


def test_a_newer_format_names_both_versions(tmp_path):
    _, payload = model_payload()
    torch.save({**payload, "format_version": FORMAT_VERSION + 1, "weights_sha256": ""}, tmp_path / "new.pt")
    with pytest.raises(ChargenError, match=f"format version {FORMAT_VERSION + 1}.*up to {FORMAT_VERSION}"):
        load_checkpoint(tmp_path / "new.pt")


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch, error):
    path = saved(tmp_path)
    before = path.read_bytes()

    def failing_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(torch, "save", failing_save)
    _, other = model_checkpoint(seed=1)
    with pytest.raises(OSError):
        save_checkpoint(path, other)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left behind


def test_non_finite_weights_are_never_written(tmp_path):
    model, checkpoint = model_checkpoint()
    checkpoint.weights["head.bias"][0] = float("nan")
    with pytest.raises(ValueError):
        save_checkpoint(tmp_path / "m.pt", checkpoint)
    assert not (tmp_path / "m.pt").exists()
