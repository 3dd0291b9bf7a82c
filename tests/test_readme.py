"""README's tour runs as printed: every line, in order, in an empty folder, with the time budgets scaled
down by CHARGEN_TIME_SCALE and nothing else changed."""

import json
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from chargen.cli import cli
from conftest import TEXT

README = Path(__file__).resolve().parent.parent / "README.md"


def tour() -> list[list[str]]:
    """The commands of README's "A tour" block, comments dropped."""
    section = README.read_text(encoding="utf-8").split("\n## A tour\n", 1)[1].split("\n## ", 1)[0]
    lines = [line.strip() for line in section.splitlines() if line.startswith("    chargen ")]
    return [shlex.split(line, comments=True) for line in lines]


def names(count: int = 300) -> str:
    """Made-up names, one a line: the tour's `names.txt`."""
    syllables = ["ka", "ri", "mo", "el", "an", "to", "sa", "li", "be", "ru", "na", "vi"]
    return "".join(syllables[i % 12].title() + syllables[(i * 7 + 3) % 12] + syllables[(i * 5 + 1) % 11] * (i % 2)
                   + "\n" for i in range(count))


@pytest.fixture
def users_folder(tmp_path, monkeypatch):
    """An empty folder but for the texts the tour names as the user's own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHARGEN_TIME_SCALE", "0.01")  # 5 minutes -> 3 seconds
    (tmp_path / "my.txt").write_text(("The " + TEXT) * 3, encoding="utf-8")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "more.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "some.txt").write_text(TEXT[:500], encoding="utf-8")
    (tmp_path / "names.txt").write_text(names(), encoding="utf-8")
    (tmp_path / "poems.txt").write_text(TEXT.upper() * 2, encoding="utf-8")
    return tmp_path


def test_the_tour_block_is_found_and_starts_with_the_main_job():
    commands = tour()
    assert len(commands) >= 10 and commands[0] == ["chargen", "train"]
    assert all(words[0] == "chargen" for words in commands)


def served(words: list[str], folder: Path) -> int:
    """Start `chargen serve ...` as typed, ask it for a completion, press Ctrl-C: its exit code."""
    proc = subprocess.Popen([sys.executable, "-m", "chargen", *words[1:]], cwd=folder, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        url = re.search(r"at (http://\S+?)/ ", line)
        assert url, line + proc.stderr.read()
        request = urllib.request.Request(f"{url[1]}/v1/completions", data=json.dumps({"max_tokens": 20}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert len(json.loads(response.read())["choices"][0]["text"]) == 20
    finally:
        proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=30)


@pytest.mark.slow
def test_every_tour_line_runs_as_written_in_order(users_folder):
    for words in tour():
        if words[1] == "serve":  # it serves until Ctrl-C: started in a process of its own, asked, stopped
            assert served(words, users_folder) == 130
            continue
        result = CliRunner().invoke(cli, words[1:], input="")
        assert result.exit_code == 0, f"{shlex.join(words)} exited {result.exit_code}:\n{result.output}"
    assert re.search(r"<html", (users_folder / "report.html").read_text(encoding="utf-8"))
    assert (users_folder / "surprise.html").is_file() and (users_folder / "cells.html").is_file()
    assert 'id="chargen-model"' in (users_folder / "model.html").read_text(encoding="utf-8")


def test_the_library_example_runs(users_folder, capsys):
    """README's Python block, its 2,000 steps cut to 8 of a tiny batch."""
    block = README.read_text(encoding="utf-8").split("```python\n", 1)[1].split("```", 1)[0]
    assert "TrainConfig(steps=2000)" in block
    exec(compile(block.replace("TrainConfig(steps=2000)", "TrainConfig(steps=8, eval_every=4, batch_size=4, seq_len=16)"),
                 "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.startswith("4 ") and "\n8 " in printed and len(printed) > 200  # two evaluations, then the text
