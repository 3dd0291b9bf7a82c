"""Run folders as `chargen runs` lists them (from their JSON files: state from the lock and the plan) and as
every command finds them: by path, by name, or by a start of the name that only one run has."""

import json
import os
import time

import pytest

from chargen.config import TrainConfig
from chargen.errors import ChargenError
from chargen.store import runs
from chargen.train.launch import new_trainer
from chargen.train.request import RunRequest
from chargen.units import LN2

from conftest import TINY_FLAGS, TINY_MODEL, TINY_TRAIN, chargen, run_to_end


def make_run(root, name, *, plan=None, evaluated=(5, 10), latest=True, model=("lstm", 2, 64), corpus=("names.txt",),
             written=None, ended="done"):
    """A run folder as training leaves it, with stand-in checkpoint files (listing runs never opens them)."""
    run = root / name
    run.mkdir(parents=True)
    cell, layers, hidden = model
    (run / runs.CONFIG).write_text(json.dumps({
        "model": {"cell": cell, "layers": layers, "hidden_size": hidden},
        "train": {"steps": None, "epochs": None, "minutes": None, **(plan or {"steps": 10})},
        "corpus": {"sources": [f"/data/{c}" for c in corpus]}, **({"ended": ended} if ended else {})}))
    (run / runs.METRICS).write_text("".join(
        json.dumps({"step": s, "epoch": s / 10, "train_loss": 2.0, "val_loss": 2.0 - s / 10, "elapsed_s": 6.0 * s}) + "\n"
        for s in evaluated))
    (run / runs.BEST).write_bytes(b"stand-in")
    if latest:
        (run / runs.LATEST).write_bytes(b"stand-in")
    if written is not None:
        for f in run.iterdir():
            os.utime(f, (written, written))
    return run


def test_each_run_gets_one_line_newest_first_with_model_corpus_steps_best_bpc_time_and_state(tmp_path):
    now = time.time()
    make_run(tmp_path, "old", written=now - 3600, corpus=("a.txt", "b.txt", "c.txt"))
    make_run(tmp_path, "new", written=now, model=("gru", 3, 512), evaluated=(4,), ended="interrupted")
    result = chargen("runs", "--checkpoint-dir", tmp_path)
    assert result.exit_code == 0, result.output
    new, old = result.stdout.splitlines()
    assert new.split() == ["new", "gru", "3x512", "names.txt", "4", "steps", f"{1.6 / LN2:.3f}", "bpc",
                           *time.strftime("%Y-%m-%d %H:%M", time.localtime(now)).split(), "interrupted"]
    assert old.startswith("old ") and "lstm 2x64" in old and "a.txt +2" in old and "10 steps" in old
    assert old.endswith("finished") and new.index("gru") == old.index("lstm")  # columns aligned


def test_the_state_is_how_the_last_process_ended(tmp_path):
    """The loop writes how it ended into config.json; a process killed before it could is interrupted."""
    cases = {
        "done": (dict(ended="done"), "finished"),
        "out-of-time": (dict(ended="time"), "finished"),
        "ctrl-c": (dict(ended="interrupted"), "interrupted"),
        "killed": (dict(ended=None), "interrupted"),  # no word from the loop, and a latest.pt to resume
        "resumed-then-killed": (dict(ended=None, plan={"minutes": 1.0}), "interrupted"),
        "nothing-to-resume": (dict(ended=None, latest=False), "finished"),
    }
    for name, (options, _) in cases.items():
        make_run(tmp_path, name, **options)
    (tmp_path / "never-saved").mkdir()
    (tmp_path / "never-saved" / runs.CONFIG).write_text("{}")
    states = {r.name: r.state for r in runs.list_runs(tmp_path)}
    assert states == {**{name: state for name, (_, state) in cases.items()}, "never-saved": "no checkpoint"}


def test_a_finished_run_says_so_in_its_config(corpus_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert chargen("train", corpus_file, *TINY_FLAGS, "--steps", "4", "--name", "r", "-q", "--sample-length", "0").exit_code == 0
    assert json.loads((tmp_path / "checkpoints" / "r" / runs.CONFIG).read_text())["ended"] == "done"
    assert runs.list_runs(tmp_path / "checkpoints")[0].state == "finished"


def test_a_run_before_its_first_evaluation_is_interrupted_once_its_process_is_gone(tmp_path):
    run = make_run(tmp_path, "early", evaluated=(), ended=None)
    (run / runs.LOCK).write_text("99999999")  # the lock file a killed process leaves: nothing holds it
    [summary] = runs.list_runs(tmp_path)
    assert (summary.state, summary.steps, summary.best_val_bpc) == ("interrupted", 0, None)


def test_a_run_whose_lock_a_live_process_holds_is_training(tmp_path):
    run = make_run(tmp_path, "busy", evaluated=(5,), ended=None)
    with runs.RunLock(run):
        assert runs.list_runs(tmp_path)[0].state == "training"
        assert "training" in chargen("runs", "--checkpoint-dir", tmp_path).stdout
    assert runs.list_runs(tmp_path)[0].state == "interrupted"


def test_json_is_a_list_of_records(tmp_path):
    make_run(tmp_path, "one")
    records = json.loads(chargen("runs", "--checkpoint-dir", tmp_path, "--json").stdout)
    assert [r["name"] for r in records] == ["one"]
    assert records[0]["cell"] == "lstm" and records[0]["layers"] == 2 and records[0]["corpus"] == ["names.txt"]
    assert records[0]["steps"] == 10 and records[0]["state"] == "finished"
    assert records[0]["best_val_bpc"] == pytest.approx(1.0 / LN2)
    assert time.strptime(records[0]["written"], "%Y-%m-%dT%H:%M:%S")
    assert json.loads(chargen("runs", "--checkpoint-dir", tmp_path / "none", "--json").stdout) == []


def test_no_runs_is_said_on_stderr(tmp_path):
    result = chargen("runs", "--checkpoint-dir", tmp_path / "nowhere")
    assert result.exit_code == 0 and result.stdout == ""
    assert "no runs in" in result.stderr and "(it does not exist)" in result.stderr


def test_a_run_is_found_by_the_start_of_its_name_when_only_one_run_starts_so(tmp_path):
    make_run(tmp_path, "names-20261203-101500")
    make_run(tmp_path, "shakespeare-20261201-090000")
    make_run(tmp_path, "shakespeare-20261202-090000")
    assert runs.find_run("names", tmp_path) == tmp_path / "names-20261203-101500"
    assert runs.find_checkpoint("names", tmp_path) == tmp_path / "names-20261203-101500" / runs.BEST
    with pytest.raises(ChargenError) as ambiguous:
        runs.find_run("shake", tmp_path)
    message = str(ambiguous.value)
    assert "\n" not in message and "give more of the name" in message
    assert "shakespeare-20261201-090000, shakespeare-20261202-090000" in message
    with pytest.raises(ChargenError, match="no run 'poems'"):
        runs.find_run("poems", tmp_path)


def test_an_exact_name_wins_over_a_longer_name_it_starts(tmp_path):
    make_run(tmp_path, "names")
    make_run(tmp_path, "names-2")
    assert runs.find_run("names", tmp_path) == tmp_path / "names"


def test_plot_takes_runs_as_arguments_and_as_repeated_checkpoint_options(tmp_path):
    make_run(tmp_path, "names-20261203-101500")
    make_run(tmp_path, "poems-20261203-101500")
    result = chargen("plot", "names", "-c", "poem", "--checkpoint-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert "names-20261203-101500: best val" in result.stderr and "poems-20261203-101500: best val" in result.stderr


def test_a_trained_run_is_listed_finished_and_found_by_its_prefix(corpus_file, tmp_path):
    trained = chargen("train", corpus_file, *TINY_FLAGS, "--steps", 8, "--checkpoint-dir", tmp_path, "--name", "tiny-1",
                      "--sample-length", 0, "-q")
    assert trained.exit_code == 0, trained.output
    [line] = chargen("runs", "--checkpoint-dir", tmp_path).stdout.splitlines()
    assert line.split()[:6] == ["tiny-1", "lstm", "2x24", "corpus.txt", "8", "steps"] and line.endswith("finished")
    info = chargen("info", "-c", "tiny", "--checkpoint-dir", tmp_path, "--json")
    assert info.exit_code == 0 and json.loads(info.stdout)["step"] == 8


def test_metrics_newer_than_the_resume_point_are_dropped(tmp_path):
    for step in (4, 8, 12):
        runs.append_metrics(tmp_path, {"step": step})
    (tmp_path / runs.METRICS).open("a").write('{"step": 1')  # torn line from a killed process
    runs.trim_metrics(tmp_path, 8)
    assert [json.loads(line)["step"] for line in (tmp_path / runs.METRICS).read_text().splitlines()] == [4, 8]


def test_a_second_process_cannot_train_the_same_run(corpus_file, tmp_path):
    cfg = TrainConfig(**{**TINY_TRAIN, "steps": 8})
    trainer = new_trainer(RunRequest([str(corpus_file)], TINY_MODEL, cfg, tmp_path / "run"))
    (tmp_path / "run").mkdir()
    with runs.RunLock(tmp_path / "run"):
        with pytest.raises(ChargenError, match=r"being trained by another chargen process \(pid \d+\)"):
            list(trainer.run())
    run_to_end(trainer)  # released: the run can go ahead
