import json
import shlex
import subprocess
import sys

import pytest

from chargen.cli import cli

from conftest import TINY_FLAGS, TINY_MODEL, chargen, interrupted_training


def test_train_reports_on_stderr_and_prints_a_sample_on_stdout(corpus_file, tmp_path):
    ckpt = tmp_path / "ckpts"
    result = chargen("train", corpus_file, *TINY_FLAGS, "--steps", 4, "--checkpoint-dir", ckpt, "--name", "b",
                     "--sample-length", 25)
    assert result.exit_code == 0
    assert len(result.stdout) == 26  # the sample and a newline, nothing else
    assert "step 4: train" in result.stderr and "val" in result.stderr and "finished at step 4" in result.stderr


def test_sample_is_repeatable_with_a_seed_and_greedy_at_temperature_zero(trained_run):
    run = trained_run.path
    first = chargen("sample", "-c", run, "--seed", 3, "--length", 80)
    assert first.exit_code == 0 and len(first.stdout) == 81
    assert chargen("sample", "-c", run, "--seed", 3, "--length", 80).stdout == first.stdout
    greedy = {chargen("sample", "-c", run, "--temp", 0, "--seed", s, "--length", 40).stdout for s in (1, 2)}
    assert len(greedy) == 1


def test_sample_defaults_to_the_latest_run_and_echoes_the_prime(trained_run, tmp_path, monkeypatch):
    trained_run.copy_to(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = chargen("sample", "--prime", "All:", "--length", 10, "--seed", 0)
    assert result.exit_code == 0 and result.stdout.startswith("All:") and len(result.stdout) == 15


def test_num_samples_and_stop(trained_run):
    run = trained_run.path
    result = chargen("sample", "-c", run, "--num-samples", 3, "--length", 20, "--seed", 1)
    assert result.exit_code == 0 and result.stdout.count("\n\n") >= 2
    stopped = chargen("sample", "-c", run, "--length", 2000, "--stop", "e", "--seed", 1).stdout
    assert stopped.endswith("e\n") and stopped.count("e") == 1


def test_info_and_eval_report_the_model(trained_run, corpus_file):
    run = trained_run.path
    info = json.loads(chargen("info", "-c", run, "--json").stdout)
    assert info["cell"] == "lstm" and info["hidden_size"] == TINY_MODEL["hidden_size"] and info["step"] == 40
    assert info["vocab_size"] > 10 and len(info["weights_sha256"]) == 64 and info["best_val_bpc"] > 0
    assert "weights sha256" in chargen("info", "-c", run).stdout
    evaluated = json.loads(chargen("eval", "-c", run, corpus_file, "--json").stdout)
    assert evaluated["bpc"] == pytest.approx(evaluated["loss_nats"] / 0.6931471805599453)
    assert evaluated["perplexity"] > 1


# The one bad input that takes a model to see: every other case is refused before any model is looked for.
NEEDS_A_MODEL = [["sample", "--prime", "Zap ☃"]]


@pytest.mark.parametrize("args, code, message", [
    (["sample", "--temp", "-1"], 2, "temperature must be a finite number"),
    (["sample", "--temp", "nan"], 2, "temperature must be a finite number"),
    (["sample", "--top-p", "1.5"], 2, "top-p must be in (0, 1]"),
    (["sample", "--top-k", "0"], 2, "top-k must be at least 1"),
    (["sample", "--length", "0"], 2, "length must be at least 1"),
    (["sample", "--prime", "Zap ☃"], 1, "the prime has characters the model never saw"),
    (["sample", "-c", "no-such-run"], 1, "no run 'no-such-run'"),
    (["train", "missing.txt"], 1, "corpus missing.txt does not exist"),
    (["train", "--steps", "0"], 2, "--steps must be positive"),
    (["train", "--cell", "transformer"], 2, "'transformer' is not one of"),
    (["train", "--plan", "--resume"], 1, "--plan shows a new run's settings"),
])
def test_bad_input_gets_one_line_and_an_exit_code(request, tmp_path, monkeypatch, args, code, message):
    monkeypatch.chdir(tmp_path)
    if args in NEEDS_A_MODEL:  # the run the command finds by default, in ./checkpoints
        request.getfixturevalue("trained_run").copy_to(tmp_path)
    result = chargen(*args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    if code == 1:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")


def test_plan_shows_the_recipe_and_a_command_that_trains_exactly_it(corpus_file, tmp_path):
    ckpt = tmp_path / "ckpts"
    result = chargen("train", corpus_file, "--hidden-size", 24, "--embed-dim", 8, "--batch-size", 4, "--seq-len", 8,
                     "--minutes", 0.02, "--checkpoint-dir", ckpt, "--plan")
    assert result.exit_code == 0, result.output
    corpus_line, recipe_line, command = result.stdout.splitlines()
    text = corpus_file.read_text(encoding="utf-8")
    assert corpus_line == (f"corpus: {len(text):,} characters, {len(set(text))} distinct, the last 10% held out "
                           "for validation")
    assert recipe_line.startswith("recipe: 0.02 minutes at") and "the model you chose, lstm 2x24" in recipe_line
    assert not ckpt.exists()  # nothing trained, nothing written

    words = shlex.split(command)
    assert words[:3] == ["chargen", "train", str(corpus_file)] and "--hidden-size" in words and "--lr" in words
    planned = dict(zip(words[3::2], words[4::2]))
    ran = chargen(*words[1:], "--checkpoint-dir", ckpt, "--name", "planned", "--sample-length", 0, "-q")
    assert ran.exit_code == 0, ran.output
    config = json.loads((ckpt / "planned" / "config.json").read_text())
    for name, value in {**config["model"], **config["train"]}.items():
        if (option := "--" + name.replace("_", "-")) in planned:
            assert planned[option] == (f"{value:g}" if isinstance(value, float) else str(value)), option
    assert config["train"]["lr"] == float(planned["--lr"]) and config["train"]["minutes"] == 0.02


def test_no_checkpoints_folder_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = chargen("sample")
    assert result.exit_code == 1 and "no trained runs in checkpoints" in result.stderr


def test_a_start_that_fails_leaves_no_empty_checkpoints_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = chargen("train", "missing.txt")
    assert result.exit_code == 1 and "missing.txt does not exist" in result.stderr
    assert not (tmp_path / "checkpoints").exists()


def test_every_command_has_help():
    for name, command in cli.commands.items():
        result = chargen(name, "--help")
        assert result.exit_code == 0 and command.help and len(result.stdout) > 200, name


def test_a_closed_pipe_ends_quietly(trained_run):
    # More than a pipe holds (64 KiB), so the writer meets the closed end however it writes.
    proc = subprocess.Popen([sys.executable, "-m", "chargen", "sample", "-c", trained_run.path, "--length", "70000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.read(10)
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 0 and stderr == ""


def test_ctrl_c_saves_a_resumable_checkpoint_and_exits_130(corpus_file, tmp_path):
    ckpt = tmp_path / "ckpts"
    code, stderr = interrupted_training(corpus_file, *TINY_FLAGS, "--steps", 100000, "--eval-every", 100000,
                                        "--checkpoint-dir", ckpt, "--name", "long")
    assert code == 130, stderr
    assert "continue with: chargen train --resume long" in stderr and "Traceback" not in stderr
    info = json.loads(chargen("info", "-c", ckpt / "long" / "latest.pt", "--json").stdout)
    assert info["resumable"] and info["step"] > 0
    resumed = chargen("train", "--resume", "long", "--checkpoint-dir", ckpt, "--steps", info["step"] + 4,
                      "--sample-length", 0)
    assert resumed.exit_code == 0, resumed.output
    assert f"resuming {ckpt / 'long'} from step {info['step']}" in resumed.stderr
