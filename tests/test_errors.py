"""Runs every row of docs/errors.md: the documented behaviour for each bad input is the real one."""

import os
import re
import shlex
import shutil
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from chargen.cli import cli
from chargen.store.runs import RunLock

from conftest import TEXT

TABLE = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
# A row with exit 0 has an empty message cell ("| 0 | |"): it must be matched, and run, too.
ROW = re.compile(r"^\| (?P<what>[^|]+) \| `(?P<command>[^`]+)` \| (?P<exit>\d+) \| (?P<message>.*?) ?\|$")


NO_GPU = ("no CUDA GPU is available", "tf32 needs the TF32 matrix units")  # rows true only where torch sees no GPU


def rows():
    found = [ROW.match(line) for line in TABLE.read_text(encoding="utf-8").splitlines()]
    return [pytest.param(m["command"], int(m["exit"]), m["message"].strip(), id=m["what"]) for m in found if m]


def train(*args: str) -> None:
    result = CliRunner().invoke(cli, ["train", *args, "--steps", "4", "--hidden-size", "16", "--batch-size", "4",
                                      "--seq-len", "16", "--eval-every", "4", "-q", "--sample-length", "0"])
    assert result.exit_code == 0, result.output


def other_runs(root: Path) -> None:
    """The runs the table's rows need beside `tiny`, each broken the way its row says."""
    from chargen.store.checkpoint import read_payload, write_payload

    runs = root / "checkpoints"
    train("corpus.txt", "--name", "gru", "--cell", "gru")
    (root / "gone.txt").write_text(TEXT, encoding="utf-8")
    train("gone.txt", "--name", "gone")
    (root / "gone.txt").unlink()
    (root / "onlya.txt").write_text("a\n" * 200, encoding="utf-8")
    result = CliRunner().invoke(cli, ["train", "onlya.txt", "--lines", "--name", "onlya", "--steps", "60", "--lr",
                                      "0.05", "--hidden-size", "16", "--batch-size", "8", "-q", "--sample-length", "0"])
    assert result.exit_code == 0, result.output
    for name in ("locked", "pair", "bestonly", "nometrics"):
        shutil.copytree(runs / "tiny", runs / name)
    payload = read_payload(runs / "pair" / "latest.pt")
    write_payload(runs / "pair" / "latest.pt", {**payload, "world_size": 2})
    (runs / "bestonly" / "latest.pt").unlink()
    (runs / "nometrics" / "metrics.jsonl").unlink()
    later = time.time() + 60
    for f in (runs / "tiny").iterdir():  # `tiny` stays the latest run, which rows without -c use
        os.utime(f, (later, later))


class Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("sandbox")
    text = TEXT + "Café, café.\n"
    (root / "corpus.txt").write_text(text, encoding="utf-8")
    (root / "changed.txt").write_text(text[::-1], encoding="utf-8")
    (root / "empty-folder").mkdir()
    (root / "empty.txt").write_bytes(b"")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (root / "latin1.txt").write_bytes("café au lait\n".encode("latin-1"))
    (root / "small.txt").write_text("abcd" * 25)
    (root / "wide.txt").write_text("".join(map(chr, range(0x4E00, 0x4E00 + 500))))
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(cli, ["train", "corpus.txt", "--name", "tiny", "--steps", "4", "--hidden-size",
                                          "16", "--batch-size", "4", "--seq-len", "16", "--eval-every", "4", "-q",
                                          "--sample-length", "0"])
        assert result.exit_code == 0, result.output
        other_runs(root)
    finally:
        os.chdir(cwd)
    latest = (root / "checkpoints" / "tiny" / "latest.pt").read_bytes()
    (root / "truncated.pt").write_bytes(latest[: len(latest) // 2])
    (root / "zero.pt").write_bytes(b"")
    payload = torch.load(root / "checkpoints" / "tiny" / "latest.pt", weights_only=True)
    torch.save({**payload, "evil": Payload()}, root / "evil.pt")
    torch.save({**payload, "format_version": 99}, root / "future.pt")
    (root / "one.txt").write_text("a", encoding="utf-8")
    (root / "taken.html").write_text("mine", encoding="utf-8")
    (root / "other.html").write_text("<!DOCTYPE html><title>not a model</title>", encoding="utf-8")
    model = (root / "checkpoints" / "tiny" / "best.safetensors").read_bytes()
    (root / "flipped.safetensors").write_bytes(model[:-5] + bytes([model[-5] ^ 0x10]) + model[-4:])
    (root / "cut.safetensors").write_bytes(model[: len(model) // 2])
    from safetensors.numpy import save_file

    save_file({"x": __import__("numpy").zeros(3, "float32")}, str(root / "other.safetensors"))
    with RunLock(root / "checkpoints" / "locked"):  # as another process's training would hold it
        yield root


@pytest.mark.parametrize("command, exit_code, message", rows())
def test_documented_bad_input_behaviour(sandbox, monkeypatch, request, command, exit_code, message):
    monkeypatch.chdir(sandbox)
    if torch.cuda.is_available() and any(fragment in message for fragment in NO_GPU):
        pytest.skip("this row is about a machine without a GPU")
    words = shlex.split(command)
    charset = "utf-8"
    while "=" in words[0]:
        name, value = words.pop(0).split("=", 1)
        if name == "PYTHONIOENCODING":
            charset = value
        else:
            monkeypatch.setenv(name, value)
    if "without matplotlib" in request.node.callspec.id:
        monkeypatch.setitem(sys.modules, "matplotlib", None)
    if "without the onnx extra" in request.node.callspec.id:
        monkeypatch.setitem(sys.modules, "onnx", None)
    assert words.pop(0) == "chargen"
    before = {p: p.stat().st_mtime_ns for p in (sandbox / "checkpoints" / "tiny").iterdir()}
    result = CliRunner(charset=charset).invoke(cli, words)
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    if exit_code:
        assert message in result.stderr
        if exit_code == 1:
            assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert {p: p.stat().st_mtime_ns for p in (sandbox / "checkpoints" / "tiny").iterdir()} == before
    assert not (sandbox / "pwned").exists()


def test_the_table_covers_the_issue_list():
    table = [line for line in TABLE.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    assert len(rows()) == len(table) - 1 >= 60  # every row but the header is run
