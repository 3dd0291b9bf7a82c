"""Real training processes killed with SIGKILL, also in the middle of a checkpoint write, lose nothing
but the steps since the last save, and resume to weights bitwise identical to an uninterrupted run."""

import signal
import subprocess
import sys
import time

import pytest
import torch

from chargen.store.checkpoint import load_checkpoint

from conftest import TINY_MODEL, TINY_TRAIN

pytestmark = pytest.mark.slow

STEPS = 200
FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in {**TINY_MODEL, **TINY_TRAIN, "eval_every": 5}.items()]
# On the CPU: with dropout between layers, bitwise resume is a CPU promise (tests/test_gpu.py covers cuda).
FLAGS += [f"--steps={STEPS}", "--dropout=0.1", "--sample-length=0", "-q", "--device=cpu"]
# Kill the process on the third checkpoint write, after half the file is written.
KILL_MID_SAVE = """
import os, signal, sys, runpy
import chargen.store.checkpoint as ck
real, calls = ck.torch.save, [0]
def save(obj, f):
    calls[0] += 1
    if calls[0] == 3:
        f.write(b"PK half a checkpoint"); f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    real(obj, f)
ck.torch.save = save
sys.argv = ["chargen", *sys.argv[1:]]
runpy.run_module("chargen", run_name="__main__")
"""


def chargen(args, cwd, code=None):
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "chargen", *args]
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def final_weights(cwd, name):
    return load_checkpoint(cwd / "checkpoints" / name / "latest.pt").weights


def resume_to_end(cwd, name):
    proc = chargen(["train", "--resume", name, "-q", "--sample-length=0"], cwd)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return err


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus_file_module):
    cwd = corpus_file_module.parent
    proc = chargen(["train", str(corpus_file_module), "--name", "whole", *FLAGS], cwd)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return final_weights(cwd, "whole")


@pytest.fixture(scope="module")
def corpus_file_module(tmp_path_factory):
    from conftest import TEXT

    path = tmp_path_factory.mktemp("crash") / "corpus.txt"
    path.write_text(TEXT)
    return path


def identical(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("delay", [0.3, 0.7, 1.1])
def test_sigkill_at_random_moments_then_resume_is_bitwise_identical(reference, corpus_file_module, delay):
    cwd = corpus_file_module.parent
    name = f"killed-{delay}"
    proc = chargen(["train", str(corpus_file_module), "--name", name, *FLAGS], cwd)
    latest = cwd / "checkpoints" / name / "latest.pt"
    deadline = time.monotonic() + 60
    while not latest.exists() and time.monotonic() < deadline:  # wait for the first save
        time.sleep(0.05)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if proc.returncode == 0:
        pytest.skip("the run finished before the kill on this machine")
    saved_step = load_checkpoint(latest).position.step  # always loadable
    assert 0 < saved_step <= STEPS
    resume_to_end(cwd, name)
    assert identical(final_weights(cwd, name), reference)


def test_sigkill_during_a_checkpoint_write_keeps_the_last_one_and_cleans_up(reference, corpus_file_module):
    cwd = corpus_file_module.parent
    proc = chargen(["train", str(corpus_file_module), "--name", "midsave", *FLAGS], cwd, code=KILL_MID_SAVE)
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    run = cwd / "checkpoints" / "midsave"
    orphans = [p.name for p in run.iterdir() if ".tmp-" in p.name]
    assert orphans, "the killed save should have left its temporary file"
    assert load_checkpoint(run / "latest.pt").position.step == 5  # saves 1-2 were step 5; 3 was killed
    resume_to_end(cwd, "midsave")
    assert not [p for p in run.iterdir() if ".tmp-" in p.name]
    assert identical(final_weights(cwd, "midsave"), reference)
