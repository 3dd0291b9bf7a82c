"""Training with several processes (torchrun's launcher, gloo on CPU): the same computation as one process
with the whole batch, resumable bit for bit, and a job that ends cleanly when one of its processes dies.

The jobs that are interrupted run under the launcher, as `chargen train --nproc 2` starts them; the jobs that
only compute (two processes' run, the uninterrupted reference, the resumes) run as two processes forked from
this one and told their places as the launcher tells its own, which is seconds sooner for the same numbers."""

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from chargen.store.checkpoint import load_checkpoint
from chargen.errors import ChargenError
from chargen.train.request import RunRequest
from chargen.train.launch import resume_trainer

from conftest import TEXT, TINY_MODEL, Forked, chargen

pytestmark = pytest.mark.slow

FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in TINY_MODEL.items()]
FLAGS += ["--seq-len=16", "--warmup-steps=2", "--eval-every=10", "--sample-length=0", "-q"]
STEPS = 150  # the interrupted runs' length: long enough that a signal sent at the first save lands mid-run


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    (root / "corpus.txt").write_text(TEXT * 3)
    return root


def launch(folder, *args):
    """`chargen train --nproc 2 ...` in a real process: torchrun's agent and two workers."""
    return subprocess.Popen([sys.executable, "-m", "chargen", "train", "corpus.txt", "--nproc", "2", *FLAGS, *args],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_forked_processes(folder, *args):
    """`chargen ARGS` as the two processes of one job, each told its place as torchrun tells its workers, forked
    from this one (no agent, no fresh interpreters: seconds sooner, the same computation)."""
    port = free_port()
    procs = [Forked(*args, cwd=folder, env={"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
                                            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                                            "CHARGEN_NPROC": "2"})
             for rank in (0, 1)]
    codes = [proc.wait() for proc in procs]
    assert codes == [0, 0], procs[0].output + procs[1].output


def weights(folder, name):
    return load_checkpoint(folder / "checkpoints" / name / "latest.pt").weights


def metrics(folder, name):
    return [json.loads(line) for line in (folder / "checkpoints" / name / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def two_process_run(folder):
    two_forked_processes(folder, "train", "corpus.txt", *FLAGS, "--batch-size=4", "--steps=60", "--name=two")
    return folder / "checkpoints" / "two"


def test_two_processes_compute_what_one_does_with_the_doubled_batch(folder, two_process_run, monkeypatch):
    monkeypatch.chdir(folder)
    result = chargen("train", "corpus.txt", *FLAGS, "--batch-size=8", "--steps=60", "--name=one")
    assert result.exit_code == 0, result.output
    one, two = weights(folder, "one"), weights(folder, "two")
    for k in one:
        torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-5)
    m1, m2 = metrics(folder, "one"), metrics(folder, "two")
    assert [r["step"] for r in m1] == [r["step"] for r in m2] == [10, 20, 30, 40, 50, 60]
    for a, b in zip(m1, m2):
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-5)
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
    saved = load_checkpoint(two_process_run / "latest.pt")
    assert saved.world_size == 2 and len(saved.resume.rng) == 2
    assert saved.resume.state[0].shape[1] == 8  # both processes' streams, as one process would hold them


def wait_for(path: Path, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


def workers(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


LONG = ["--batch-size=4", f"--steps={STEPS}", "--dropout=0.1"]


@pytest.fixture(scope="module")
def long_reference(folder):
    """The weights of the interrupted runs' job, uninterrupted."""
    two_forked_processes(folder, "train", "corpus.txt", *FLAGS, *LONG, "--name=reference")
    return weights(folder, "reference")


def test_ctrl_c_stops_every_process_at_one_step_and_resumes_bitwise(folder, long_reference):
    proc = launch(folder, *LONG, "--name=stopped")
    wait_for(folder / "checkpoints" / "stopped" / "latest.pt", proc)
    proc.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends the launcher
    code, err = finish(proc)
    if code == 0:
        pytest.skip("the run finished before the interrupt on this machine")
    assert code == 130, err
    assert "continue with: chargen train --nproc 2 --resume stopped" in err and "Traceback" not in err
    assert 0 < load_checkpoint(folder / "checkpoints" / "stopped" / "latest.pt").position.step < STEPS
    two_forked_processes(folder, "train", "--resume", "stopped", "-q", "--sample-length=0")
    resumed = weights(folder, "stopped")
    assert all(torch.equal(resumed[k], long_reference[k]) for k in resumed)


def test_a_killed_process_ends_the_job_and_the_run_resumes_bitwise(folder, long_reference):
    proc = launch(folder, *LONG, "--name=killed")
    wait_for(folder / "checkpoints" / "killed" / "latest.pt", proc)
    running = workers(proc.pid)
    if proc.poll() is not None or not running:
        pytest.skip("the run finished before the kill on this machine")
    subprocess.run(["kill", "-9", str(running[-1])])
    code, err = finish(proc, timeout=60)  # no hang: the agent stops the survivor
    if code == 0:
        pytest.skip("the run finished before the kill on this machine")
    assert code == 1 and "was killed by signal 9 and the others were stopped" in err
    assert "Traceback" not in err
    assert not workers(proc.pid)
    two_forked_processes(folder, "train", "--resume", "killed", "-q", "--sample-length=0")
    resumed = weights(folder, "killed")
    assert all(torch.equal(resumed[k], long_reference[k]) for k in resumed)


def test_resuming_with_another_number_of_processes_is_refused(two_process_run):
    with pytest.raises(ChargenError, match=r"trained by 2 process\(es\) and this job has 1; resume it with 2"):
        resume_trainer(RunRequest.resuming(two_process_run))


def _diverging_rank(rank: int, port: int, corpus: str, run_dir: str, out: str) -> None:
    """One process of a 2-process job whose loss turns NaN after step 12 (torch.multiprocessing, env://)."""
    import os

    # Forked from this process: one thread, as torchrun's processes have (OpenMP's pool does not survive a fork).
    torch.set_num_threads(1)
    from chargen.train import loss
    from chargen.config import TrainConfig
    from chargen.train.distributed import Distributed
    from chargen.train.launch import new_trainer
    from chargen.train.reports import Note

    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    group = Distributed()
    real, calls = loss.char_loss, [0]

    def nan_later(logits, targets):
        calls[0] += 1
        return real(logits, targets) * (float("nan") if calls[0] > 12 else 1.0)

    loss.char_loss = nan_later
    cfg = TrainConfig(batch_size=2, seq_len=16, warmup_steps=2, eval_every=4, steps=40)
    trainer = new_trainer(RunRequest([corpus], TINY_MODEL, cfg, Path(run_dir)), group=group)
    notes = []
    try:
        for report in trainer.run():
            if isinstance(report, Note):
                notes.append(report.message)
    except ChargenError as e:
        notes.append(f"error: {e}")
    group.close()
    Path(f"{out}.{rank}").write_text(json.dumps(notes))


def test_divergence_rolls_back_in_every_process_alike(folder, tmp_path):
    import torch.multiprocessing as mp

    out = str(tmp_path / "notes")
    mp.start_processes(_diverging_rank, args=(free_port(), str(folder / "corpus.txt"), str(tmp_path / "run"), out),
                       nprocs=2, start_method="fork")
    notes = [json.loads(Path(f"{out}.{rank}").read_text()) for rank in (0, 1)]
    assert notes[0] == notes[1]  # the same skips, rollbacks and final error in both processes
    assert sum("rolled back to step 12" in n for n in notes[0]) == 3
    assert notes[0][-1].startswith("error: training diverged")
    saved = load_checkpoint(tmp_path / "run" / "latest.pt")
    assert saved.position.step == 12 and all(torch.isfinite(w).all() for w in saved.weights.values())
