"""best.safetensors: the model beside best.pt, read with NumPy alone, verified, and what sample, repl and
info start from without importing torch."""

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from chargen.cli import cli
from chargen.config import ModelConfig
from chargen.data.vocab import Vocab
from chargen.errors import ChargenError
from chargen.model.charrnn import CharRNN
from chargen.store import runs
from chargen.store.checkpoint import load_checkpoint, weights_digest
from chargen.store.record import Checkpoint, CorpusFacts
from chargen.store.weights import numpy_digest, read_model, read_weights, write_weights
from conftest import TEXT
from test_layers import run_without_torch

FLAGS = ["--steps", "8", "--hidden-size", "16", "--embed-dim", "8", "--batch-size", "4", "--seq-len", "16",
         "--eval-every", "4", "-q", "--sample-length", "0"]


def model_checkpoint(cell="lstm", embed_dim=3):
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=7, cell=cell, hidden_size=8, embed_dim=embed_dim)
    return Checkpoint(config, Vocab("abcdefg"), CharRNN(config).state_dict(), CorpusFacts(["letters.txt"]))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder holding a run trained by `chargen train`, as a user's would."""
    root = tmp_path_factory.mktemp("weights")
    (root / "corpus.txt").write_text(TEXT, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("CHARGEN_CACHE_DIR", str(root / "cache"))
        result = CliRunner().invoke(cli, ["train", "corpus.txt", "--name", "run", *FLAGS])
    assert result.exit_code == 0, result.output
    return root


@pytest.mark.parametrize("cell, embed_dim", [("lstm", 3), ("gru", 0), ("rnn-tanh", 3)])
def test_the_file_gives_back_the_weights_and_record_bit_for_bit(tmp_path, cell, embed_dim):
    checkpoint = model_checkpoint(cell, embed_dim)
    write_weights(tmp_path / "m.safetensors", checkpoint)
    loaded = read_weights(tmp_path / "m.safetensors")
    assert loaded.model_config == checkpoint.model_config and loaded.vocab == checkpoint.vocab
    assert loaded.corpus == checkpoint.corpus and loaded.position == checkpoint.position
    assert all(np.array_equal(loaded.weights[k], checkpoint.weights[k].numpy()) for k in checkpoint.weights)
    # The digest is the .pt file's, computed without torch: `info` shows one figure for both files.
    assert loaded.weights_sha256 == weights_digest(checkpoint.weights) == numpy_digest(loaded.weights)


def test_a_run_writes_the_best_model_beside_best_pt_and_both_read_alike(folder):
    run = folder / "checkpoints" / "run"
    assert runs.find_model("run", folder / "checkpoints") == run / runs.BEST_WEIGHTS
    from_pt, from_file = load_checkpoint(run / runs.BEST), read_model(run / runs.BEST_WEIGHTS)
    assert from_file.facts("x") == from_pt.facts("x")
    assert all(np.array_equal(from_file.weights[k], from_pt.weights[k].numpy()) for k in from_pt.weights)


def test_a_best_pt_newer_than_its_safetensors_is_read_instead(folder, tmp_path):
    """A save writes best.pt first: a crash before the .safetensors must not serve the older model."""
    run = tmp_path / "run"
    shutil.copytree(folder / "checkpoints" / "run", run)
    newer = (run / runs.BEST_WEIGHTS).stat().st_mtime_ns + 10**9
    os.utime(run / runs.BEST, ns=(newer, newer))
    assert runs.find_model(str(run), tmp_path) == run / runs.BEST


@pytest.mark.parametrize("args, expect", [
    (["sample", "-c", "run", "-l", "40", "--seed", "3"], None),
    (["info", "-c", "run"], "best.safetensors"),
    (["info", "-c", "run", "--json"], '"resumable": false'),
])
def test_sample_and_info_run_with_torch_unimportable(folder, args, expect):
    result = run_without_torch(*args, cwd=folder)
    assert result.returncode == 0, result.stderr
    if expect:
        assert expect in result.stdout
    else:  # the same text torch's path gives
        with_torch = CliRunner().invoke(cli, [*args, "--checkpoint-dir", str(folder / "checkpoints")])
        assert result.stdout == with_torch.stdout and len(result.stdout.strip()) >= 30


def test_the_repl_runs_with_torch_unimportable(folder):
    code = ("import sys; sys.modules['torch'] = None; sys.argv = ['chargen', 'repl', '-c', 'run', '-l', '20', "
            "'--seed', '1']; from chargen.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", code], cwd=folder, input="All:\n", capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) > 0


def tampered(tmp_path, change) -> str:
    path = tmp_path / "m.safetensors"
    write_weights(path, model_checkpoint())
    path.write_bytes(change(path.read_bytes()))
    with pytest.raises(ChargenError) as e:
        read_weights(path)
    return str(e.value)


def header(data: bytes) -> tuple[dict, bytes]:
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def with_header(head: dict, body: bytes) -> bytes:
    raw = json.dumps(head).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def test_a_flipped_bit_in_the_weights_is_reported_corrupt(tmp_path):
    message = tampered(tmp_path, lambda d: d[:-5] + bytes([d[-5] ^ 0x10]) + d[-4:])
    assert "corrupt (its weights do not match their SHA-256)" in message


def test_a_truncated_file_is_reported_corrupt(tmp_path):
    assert "is corrupt" in tampered(tmp_path, lambda d: d[: len(d) // 2])


def test_a_header_claiming_more_bytes_than_the_file_is_reported_corrupt(tmp_path):
    def claim(d):
        head, body = header(d)
        name = next(k for k in head if k != "__metadata__")
        start, end = head[name]["data_offsets"]
        head[name]["data_offsets"] = [start, end + 10**6]
        return with_header(head, body)

    assert "is corrupt" in tampered(tmp_path, claim)


def test_a_wrong_shape_or_dtype_is_reported_corrupt(tmp_path):
    def reshape(d):
        head, body = header(d)
        head["head.bias"]["shape"] = [1, head["head.bias"]["shape"][0]]
        return with_header(head, body)

    def retype(d):
        head, body = header(d)
        head["head.bias"]["dtype"] = "I32"
        return with_header(head, body)

    assert "do not fit its model: head.bias" in tampered(tmp_path, reshape)
    assert "head.bias is int32, not float32" in tampered(tmp_path, retype)


def test_a_safetensors_file_that_is_not_a_chargen_model_is_named(tmp_path):
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3, np.float32)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ChargenError, match="not a chargen model"):
        read_weights(tmp_path / "other.safetensors")


def test_a_run_written_before_safetensors_still_samples_and_describes_itself(tmp_path):
    """A run from before best.safetensors (tests/fixtures/main-0.1) is read with torch, as it always was."""
    run = tmp_path / "old"
    shutil.copytree(Path(__file__).parent / "fixtures" / "main-0.1", run)
    assert runs.find_model(str(run), tmp_path) == run / runs.BEST
    info = CliRunner().invoke(cli, ["info", "-c", str(run), "--json"])
    assert info.exit_code == 0 and json.loads(info.stdout)["step"] == 12
    sample = CliRunner().invoke(cli, ["sample", "-c", str(run), "-l", "20", "--seed", "1"])
    assert sample.exit_code == 0 and len(sample.stdout) >= 20
