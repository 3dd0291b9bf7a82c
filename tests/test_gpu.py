"""What only a CUDA GPU exercises: training on cuda for every cell, its arithmetic, exact resume, checkpoints
that load on a CPU, generation from the GPU, and running out of GPU memory. Skipped without a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from chargen.train import step as train_step
from chargen.store.checkpoint import load_checkpoint
from chargen.config import ModelConfig, TrainConfig
from chargen.generate.cudastep import CudaStepModel, fastest_step_model
from chargen.errors import ChargenError
from chargen.train.request import RunRequest
from chargen.train.launch import new_trainer, resume_trainer
from chargen.model.charrnn import CharRNN
from chargen.generate.sample import StepModel
from chargen.train.loop import Trainer

from conftest import TINY_FLAGS, TINY_MODEL, TINY_TRAIN, chargen, interrupted_training

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none here")]

CELLS = ["lstm", "gru", "rnn-tanh", "rnn-relu"]


def on_cpu_only(*args) -> subprocess.CompletedProcess:
    """`chargen ARGS` in a process that sees no GPU at all."""
    return subprocess.run([sys.executable, "-m", "chargen", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, timeout=120)


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_trains_on_cuda_and_its_checkpoint_serves_a_cpu_only_machine(cell, corpus_file, tmp_path):
    ckpt = tmp_path / "ckpts"
    result = chargen("train", corpus_file, *TINY_FLAGS, "--cell", cell, "--steps", 12, "--device", "cuda",
                     "--checkpoint-dir", ckpt, "--name", cell, "--sample-length", 20)
    assert result.exit_code == 0, result.output
    assert "parameters on cuda:0" in result.stderr
    records = [json.loads(line) for line in (ckpt / cell / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["train_loss"]) and np.isfinite(r["val_loss"]) for r in records)

    sample = on_cpu_only("sample", "-c", ckpt / cell, "--length", 40, "--seed", 1)
    assert sample.returncode == 0 and len(sample.stdout) == 41, sample.stderr
    scored = on_cpu_only("eval", "-c", ckpt / cell, corpus_file, "--json")
    assert scored.returncode == 0 and json.loads(scored.stdout)["loss_nats"] > 0, scored.stderr
    info = on_cpu_only("info", "-c", ckpt / cell / "latest.pt", "--json")
    assert info.returncode == 0 and json.loads(info.stdout)["step"] == 12, info.stderr


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_tf32_and_bf16_train_on_cuda_and_learn(precision, corpus_file, tmp_path):
    ckpt = tmp_path / "ckpts"
    result = chargen("train", corpus_file, *TINY_FLAGS, "--steps", 40, "--eval-every", 20, "--lr", 1e-2,
                     "--precision", precision, "--device", "cuda", "--checkpoint-dir", ckpt, "--name", "p")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (ckpt / "p" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["val_loss"] < records[0]["val_loss"] < 4.0
    assert json.loads((ckpt / "p" / "config.json").read_text())["train"]["precision"] == precision


def train_in_halves(corpus_file, tmp_path, stop_at: int, **options) -> tuple[dict, dict, Trainer]:
    """(weights of an uninterrupted run, weights of the same run stopped at `stop_at` and resumed, the resumed trainer)."""
    cfg = TrainConfig(**{**TINY_TRAIN, "steps": 24, "eval_every": 8, "device": "cuda", **options})
    whole = new_trainer(RunRequest([str(corpus_file)], dict(MODEL), cfg, tmp_path / "whole"))
    list(whole.run())
    halves = new_trainer(RunRequest([str(corpus_file)], dict(MODEL), cfg, tmp_path / "halves"))
    list(halves.run(lambda: halves.pos.step >= stop_at))
    resumed = resume_trainer(RunRequest.resuming(tmp_path / "halves"))
    list(resumed.run())
    return whole.model.state_dict(), resumed.model.state_dict(), resumed


MODEL = {**TINY_MODEL, "layers": 1, "dropout": 0.2}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_resumed_cuda_run_continues_bitwise(precision, corpus_file, tmp_path):
    """Stopping and resuming on cuda changes nothing: the model's dropout is torch's, whose generator the
    checkpoint holds (between layers it would be cuDNN's own: next test)."""
    whole, resumed, _ = train_in_halves(corpus_file, tmp_path, 8, precision=precision)
    for name in whole:
        assert torch.equal(whole[name], resumed[name]), f"{name}: max difference {(whole[name] - resumed[name]).abs().max()}"


def test_with_dropout_between_layers_a_resumed_cuda_run_says_it_matches_in_distribution(corpus_file, tmp_path,
                                                                                        monkeypatch):
    monkeypatch.setitem(MODEL, "layers", 2)
    whole, resumed, trainer = train_in_halves(corpus_file, tmp_path, 8)
    assert any("in distribution, not bit for bit" in note for note in trainer.notes)
    losses = [[json.loads(line)["val_loss"] for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
              for name in ("whole", "halves")]
    # cuDNN's dropout generator is one per process, so even the runs' first halves draw other masks here.
    assert losses[1][-1] == pytest.approx(losses[0][-1], abs=0.1)


def test_ctrl_c_on_cuda_saves_and_the_run_resumes(corpus_file, tmp_path):
    ckpt = tmp_path / "ckpts"
    code, stderr = interrupted_training(corpus_file, *TINY_FLAGS, "--device", "cuda", "--steps", 100000,
                                        "--eval-every", 100000, "--checkpoint-dir", ckpt, "--name", "long", after_s=2.0)
    assert code == 130, stderr
    step = load_checkpoint(ckpt / "long" / "latest.pt").position.step
    assert step > 0 and "Traceback" not in stderr
    resumed = chargen("train", "--resume", "long", "--checkpoint-dir", ckpt, "--steps", step + 5, "--sample-length", 0)
    assert resumed.exit_code == 0, resumed.output
    assert load_checkpoint(ckpt / "long" / "latest.pt").position.step == step + 5


def test_device_names(corpus_file, tmp_path):
    ok = chargen("train", corpus_file, *TINY_FLAGS, "--steps", 2, "--device", "cuda:0", "--checkpoint-dir", tmp_path,
                 "--name", "zero", "--sample-length", 0)
    assert ok.exit_code == 0, ok.output
    missing = chargen("train", corpus_file, *TINY_FLAGS, "--steps", 2, "--device", f"cuda:{torch.cuda.device_count()}",
                      "--checkpoint-dir", tmp_path, "--name", "none")
    assert missing.exit_code == 1 and "GPU(s)" in missing.output and "Traceback" not in missing.output


@pytest.mark.parametrize("cell", CELLS)
def test_the_cuda_graph_step_gives_the_numpy_steps_distribution(cell):
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=30, cell=cell, layers=2, hidden_size=48, embed_dim=8)
    weights = CharRNN(config).state_dict()
    cpu = StepModel(config, weights)
    gpu = CudaStepModel(cpu)
    rng = np.random.default_rng(0)
    cpu_state, gpu_state = cpu.init_state(3), gpu.init_state(3)
    for _ in range(50):
        ids = rng.integers(0, 30, 3)
        np.testing.assert_allclose(gpu.step(ids, gpu_state), cpu.step(ids, cpu_state), rtol=1e-4, atol=1e-4)


def test_sample_and_repl_run_on_the_gpu(corpus_file, tmp_path):
    ckpt = tmp_path / "ckpts"
    assert chargen("train", corpus_file, *TINY_FLAGS, "--steps", 8, "--device", "cuda", "--checkpoint-dir", ckpt,
                   "--name", "g", "--sample-length", 0).exit_code == 0
    on_gpu = chargen("sample", "-c", ckpt / "g", "--device", "cuda", "--length", 60, "--seed", 4, "--temp", 0)
    on_cpu = chargen("sample", "-c", ckpt / "g", "--device", "cpu", "--length", 60, "--seed", 4, "--temp", 0)
    assert on_gpu.exit_code == 0 and on_gpu.stdout == on_cpu.stdout  # greedy: the same text either way
    repl = chargen("repl", "-c", ckpt / "g", "--device", "cuda", "--length", 20, input="All:\n")
    assert repl.exit_code == 0 and repl.stdout.strip(), repl.output


def test_auto_keeps_numpy_for_a_small_model_and_times_both_for_a_big_one():
    small = ModelConfig(vocab_size=65, layers=2, hidden_size=128)
    assert type(fastest_step_model(small, CharRNN(small).state_dict())) is StepModel
    big = ModelConfig(vocab_size=65, layers=3, hidden_size=1024)
    chosen = fastest_step_model(big, CharRNN(big).state_dict())
    assert type(chosen) in (StepModel, CudaStepModel)


def test_running_out_of_gpu_memory_names_what_to_lower_and_keeps_the_last_checkpoint(corpus_file, tmp_path, monkeypatch):
    cfg = TrainConfig(**{**TINY_TRAIN, "eval_every": 4, "steps": 12, "device": "cuda"})
    trainer = new_trainer(RunRequest([str(corpus_file)], dict(TINY_MODEL), cfg, tmp_path / "run"))
    real = train_step.forward_loss

    def exhausting(*args, **kwargs):
        if trainer.pos.step == 6:
            torch.empty(1 << 50, dtype=torch.uint8, device="cuda")  # a petabyte: the allocator refuses
        return real(*args, **kwargs)

    monkeypatch.setattr(train_step, "forward_loss", exhausting)
    with pytest.raises(ChargenError, match=r"ran out of memory .* lower --batch-size .* step 4 is intact"):
        for _ in trainer.run():
            pass
    assert load_checkpoint(tmp_path / "run" / "latest.pt").position.step == 4


def test_an_impossible_batch_is_one_line(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("".join(chr(97 + i % 26) + (" " if i % 7 else "\n") for i in range(600_000)), encoding="utf-8")
    result = chargen("train", big, "--steps", 3, "--device", "cuda", "--batch-size", 30000, "--seq-len", 32,
                     "--hidden-size", 4096, "--checkpoint-dir", tmp_path, "--name", "huge")
    assert result.exit_code == 1, result.output
    assert "ran out of memory" in result.output and "lower --batch-size" in result.output
    assert "Traceback" not in result.output


def test_the_recipe_picks_a_gpu_batch_from_measured_speeds(corpus_file, tmp_path):
    text = tmp_path / "longer.txt"
    text.write_text(corpus_file.read_text() * 100)  # 189K characters: room for every batch tried
    result = chargen("train", text, "--minutes", 0.15, "--device", "cuda", "--checkpoint-dir", tmp_path,
                     "--name", "r", "--sample-length", 0)
    assert result.exit_code == 0, result.output
    chosen = json.loads((tmp_path / "r" / "config.json").read_text())["train"]
    from chargen.train.recipe import GPU_BATCHES

    assert chosen["batch_size"] in GPU_BATCHES and chosen["precision"] in ("fp32", "tf32", "bf16")
    assert f"batch {chosen['batch_size']} x" in result.stderr
