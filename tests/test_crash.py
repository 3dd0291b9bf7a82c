"""Real training processes killed with SIGKILL, also in the middle of a checkpoint write, lose nothing
but the steps since the last save, and resume to weights bitwise identical to an uninterrupted run."""

import signal
import time

import pytest
import torch

from chargen.store.checkpoint import load_checkpoint

from conftest import TEXT, TINY_MODEL, TINY_TRAIN, Forked

pytestmark = pytest.mark.slow

STEPS = 300  # long enough that the latest kill, 1.1 s after the first save, lands mid-run
FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in {**TINY_MODEL, **TINY_TRAIN, "eval_every": 5}.items()]
# On the CPU: with dropout between layers, bitwise resume is a CPU promise (tests/test_gpu.py covers cuda).
FLAGS += [f"--steps={STEPS}", "--dropout=0.1", "--sample-length=0", "-q", "--device=cpu"]


def kill_on_the_third_save():
    """Kill the process on the third checkpoint write, after half the file is written."""
    import os

    import chargen.store.checkpoint as ck

    real, calls = ck.torch.save, [0]

    def save(obj, f):
        calls[0] += 1
        if calls[0] == 3:
            f.write(b"PK half a checkpoint")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        real(obj, f)

    ck.torch.save = save


def train(cwd, name, before=None) -> Forked:
    """`chargen train` of the test's run, started in a process of its own (forked: every run here, the
    reference too, is one such process, with one thread)."""
    return Forked("train", "corpus.txt", "--name", name, *FLAGS, cwd=cwd, before=before)


def final_weights(cwd, name):
    return load_checkpoint(cwd / "checkpoints" / name / "latest.pt").weights


def resume_to_end(cwd, name):
    proc = Forked("train", "--resume", name, "-q", "--sample-length=0", cwd=cwd)
    assert proc.wait(timeout=300) == 0, proc.output


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    (root / "corpus.txt").write_text(TEXT)
    return root


@pytest.fixture(scope="module")
def reference(folder):
    proc = train(folder, "whole")
    assert proc.wait(timeout=300) == 0, proc.output
    return final_weights(folder, "whole")


def identical(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("delay", [0.3, 0.7, 1.1])
def test_sigkill_at_random_moments_then_resume_is_bitwise_identical(reference, folder, delay):
    name = f"killed-{delay}"
    proc = train(folder, name)
    latest = folder / "checkpoints" / name / "latest.pt"
    deadline = time.monotonic() + 60
    while not latest.exists() and time.monotonic() < deadline:  # wait for the first save
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    if proc.wait() == 0:
        pytest.skip("the run finished before the kill on this machine")
    saved_step = load_checkpoint(latest).position.step  # always loadable
    assert 0 < saved_step <= STEPS
    resume_to_end(folder, name)
    assert identical(final_weights(folder, name), reference)


def test_sigkill_during_a_checkpoint_write_keeps_the_last_one_and_cleans_up(reference, folder):
    proc = train(folder, "midsave", before=kill_on_the_third_save)
    assert proc.wait(timeout=300) == -signal.SIGKILL
    run = folder / "checkpoints" / "midsave"
    orphans = [p.name for p in run.iterdir() if ".tmp-" in p.name]
    assert orphans, "the killed save should have left its temporary file"
    assert load_checkpoint(run / "latest.pt").position.step == 5  # saves 1-2 were step 5; 3 was killed
    resume_to_end(folder, "midsave")
    assert not [p for p in run.iterdir() if ".tmp-" in p.name]
    assert identical(final_weights(folder, "midsave"), reference)
