"""Shared fixtures and helpers: tiny corpora, private corpus caches, small model settings, `chargen` run in this
process or in a forked copy of it, and the runs trained once a session for every test that only reads one."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from chargen.cli import cli

# One thread for torch in every test process and the processes they start: the tests' tiny models run as fast
# on one as on two, with half the CPU, and the machine's other core is left to a test's second process.
os.environ["OMP_NUM_THREADS"] = "1"

ROOT = Path(__file__).resolve().parent.parent
TINYSHAKESPEARE = ROOT.parent / "shared" / "corpora" / "tinyshakespeare.txt"
BUNDLED = ROOT / "corpora" / "shakespeare.txt"  # what a fresh clone, with no ../shared beside it, has

TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\n"
    "All:\nResolved. resolved.\n\n"
) * 12
# Text holding markup: the views must show it as the characters it is, never build elements from it.
HOSTILE = 'He said "<script>alert(1)</script>" & left </div> the &amp; room.\n'
# Line mode's corpus: one item a line.
NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail",
         "emily", "ella", "elizabeth", "camila", "luna", "sofia", "avery", "mila", "aria", "scarlett",
         "liam", "noah", "oliver", "elijah", "james", "william", "benjamin", "lucas", "henry", "theodore"]

# Options that make a model and a run tiny: seconds, not minutes.
TINY_MODEL = {"layers": 2, "hidden_size": 24, "embed_dim": 8}
TINY_TRAIN = {"batch_size": 4, "seq_len": 16, "warmup_steps": 2, "eval_every": 4}
TINY_FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in {**TINY_MODEL, **TINY_TRAIN}.items()]  # the same, typed


def chargen(*args, **kw) -> Result:
    """`chargen ARGS` in this process, through click's runner (stdout and stderr apart; `input=`, `env=`, ...)."""
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


class Forked:
    """`chargen ARGS` running in a forked copy of this test process: a real process, which a signal ends as it
    would any, that starts at once where a fresh interpreter would spend seconds importing torch."""

    def __init__(self, *args, cwd: Path, env: dict | None = None, before=None) -> None:
        self.log = Path(cwd) / f".chargen-{time.monotonic_ns()}.log"  # what it printed, stdout and stderr
        self.process = multiprocessing.get_context("fork").Process(
            target=_forked_main, args=([str(a) for a in args], Path(cwd), env or {}, before, self.log), daemon=True)
        self.process.start()
        self.pid = self.process.pid

    def send_signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def poll(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout: float = 120) -> int:
        """Its exit code (minus the signal that killed it), once it has ended."""
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            raise AssertionError(f"chargen did not end within {timeout} s: {self.output}")
        return self.process.exitcode

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


def _forked_main(args: list[str], cwd: Path, env: dict, before, log: Path) -> None:
    """The forked process: `python -m chargen ARGS` in `cwd`, its output into `log`, its exit code its own."""
    import torch

    # OpenMP's thread pool does not survive a fork: a parallel region would wait for threads that are not
    # there. One thread, as torchrun's processes have (OMP_NUM_THREADS=1), runs every operation inline.
    torch.set_num_threads(1)
    os.chdir(cwd)
    os.environ.update(env)
    out = open(log, "a", buffering=1, encoding="utf-8")
    os.dup2(out.fileno(), 1)
    os.dup2(out.fileno(), 2)
    sys.stdout = sys.stderr = out
    if before is not None:
        before()
    sys.argv = ["chargen", *args]
    from chargen.cli import main

    main()  # click exits with the command's code, which becomes this process's


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


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory):
    """What fixtures trained once a module or a session encode goes into a cache of the session's, never the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHARGEN_CACHE_DIR", str(tmp_path_factory.mktemp("session-cache")))
        yield


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Every test encodes corpora into its own cache, never the user's."""
    monkeypatch.setenv("CHARGEN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def corpus_file(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def run_to_end(trainer, stop_after: int | None = None) -> list:
    """Every report of a trainer's run, which must finish (or stop after step `stop_after`, saving)."""
    from chargen.train.reports import Finished

    stop = (lambda: trainer.pos.step >= stop_after) if stop_after else (lambda: False)
    reports = list(trainer.run(stop))
    assert isinstance(reports[-1], Finished)
    return reports


@dataclass(frozen=True)
class TrainedRun:
    """A run trained once a session. Read it where it is; to change it, or the folder it is in, copy it first."""

    path: Path  # the run folder, CHECKPOINTS/NAME
    corpus: Path  # the text it was trained on

    def copy_to(self, folder: Path) -> Path:
        """A copy of the run in FOLDER/checkpoints, where commands look by default: the copy's folder."""
        copy = folder / "checkpoints" / self.path.name
        shutil.copytree(self.path, copy)
        return copy


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> TrainedRun:
    """A tiny LSTM (TINY_MODEL) trained 40 steps on TEXT with HOSTILE's markup in it, as checkpoints/<b>&run: its
    name and its text hold markup for the views to escape."""
    root = tmp_path_factory.mktemp("trained")
    corpus = root / "corpus.txt"
    corpus.write_text((TEXT + HOSTILE) * 3, encoding="utf-8")
    result = chargen("train", corpus, *TINY_FLAGS, "--steps", 40, "--eval-every", 20, "--lr", 1e-2,
                     "--checkpoint-dir", root / "checkpoints", "--name", "<b>&run", "--sample-length", 0, "-q")
    assert result.exit_code == 0, result.output
    return TrainedRun(root / "checkpoints" / "<b>&run", corpus)


def names_trainer(names_file: Path, run_dir: Path, steps: int = 150, model: dict | None = None, **options):
    """A line-mode run on a file of names, ready to train."""
    from chargen.config import TrainConfig
    from chargen.train.launch import new_trainer
    from chargen.train.request import RunRequest

    cfg = TrainConfig(**{"batch_size": 8, "lines": True, "steps": steps, "lr": 1e-2, "warmup_steps": 5,
                         "eval_every": 50, "val_fraction": 0.1, **options})
    return new_trainer(RunRequest([str(names_file)], {"hidden_size": 32, "embed_dim": 8, **(model or {})}, cfg, run_dir))


def train_names(names_file: Path, run_dir: Path, steps: int = 150, model: dict | None = None, **options):
    """A line-mode run on a file of names, trained: (the trainer, its reports)."""
    trainer = names_trainer(names_file, run_dir, steps, model, **options)
    return trainer, list(trainer.run())


@pytest.fixture(scope="session")
def trained_line_run(tmp_path_factory) -> TrainedRun:
    """A line-mode LSTM trained 300 steps on NAMES, one a line: it nearly knows them by heart."""
    root = tmp_path_factory.mktemp("lines")
    corpus = root / "names.txt"
    corpus.write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    train_names(corpus, root / "checkpoints" / "names", steps=300)
    return TrainedRun(root / "checkpoints" / "names", corpus)
