"""Timing the machine for the recipe (chargen.train.measure): the probe, plan on the CPU and, with made-up
speeds, on a GPU, and the recipe as a run gets it."""

from dataclasses import replace

import torch

from chargen.config import TrainConfig
from chargen.model.device import usable_precisions
from chargen.train import measure, recipe
from chargen.train.request import RunRequest
from chargen.train.launch import new_trainer
from chargen.train.step import TrainStep

from conftest import TINY_MODEL, chargen


TINY = 1_003_854  # tinyshakespeare's training characters


def test_the_probe_times_the_training_step_a_run_takes(monkeypatch):
    clips = []

    class Counting(TrainStep):
        def __call__(self, *args, **kwargs):
            clips.append(self.clip)
            return super().__call__(*args, **kwargs)

    monkeypatch.setattr(measure, "TrainStep", Counting)
    measure.measure_speed(30, torch.device("cpu"), "fp32", {"hidden_size": 16}, {"batch_size": 2, "seq_len": 4},
                          steps=2)
    assert clips == [TrainConfig.grad_clip] * 3  # one warm-up, then the steps timed, clipped as a run's are


def test_a_batch_the_user_chose_is_timed_as_it_will_run_and_sets_the_learning_rate(monkeypatch):
    timed = []

    def speed(vocab_size, device, precision, model, batch=recipe.BATCH, steps=6):
        timed.append((batch["batch_size"], batch["seq_len"]))
        return 30_000.0

    monkeypatch.setattr(measure, "measure_speed", speed)
    task = recipe.Task(65, TINY, TINY // 9, batch={"batch_size": 64})
    picked = measure.plan(2.5, task, torch.device("cpu"), ["fp32"])
    assert set(timed) == {(64, 64)} and picked.train["batch_size"] == 64
    assert picked.train["lr"] == round(5e-3 * 2 ** 0.5, 6)  # twice the streams: sqrt(2) the rate
    two = measure.plan(2.5, replace(task, world=2), torch.device("cpu"), ["fp32"])  # 64 each, 128 in all
    assert two.train["batch_size"] == 64 and "batch 128 (2 processes of 64) x 64" in two.why


def test_measured_speed_is_positive_in_both_precisions():
    for precision in usable_precisions(torch.device("cpu")):
        speed = measure.measure_speed(30, torch.device("cpu"), precision, {"hidden_size": 16},
                                      {"batch_size": 2, "seq_len": 4}, steps=1)
        assert speed > 0


def test_a_time_budget_fills_only_the_options_left_unchosen(corpus_file, tmp_path):
    trainer = new_trainer(RunRequest([str(corpus_file)], {"hidden_size": 24}, {"minutes": 0.01, "batch_size": 4, "seq_len": 8}, tmp_path / "run"))
    assert trainer.model_config.hidden_size == 24 and trainer.model_config.layers == 2
    assert (trainer.cfg.batch_size, trainer.cfg.seq_len) == (4, 8)
    assert trainer.cfg.lr == 8e-3  # the rate suits the narrow model chosen: the highest the recipe gives
    assert any(note.startswith("recipe: 0.01 minutes at") for note in trainer.notes)


def test_an_explicit_precision_is_measured_and_kept(corpus_file, tmp_path):
    trainer = new_trainer(RunRequest([str(corpus_file)], {"hidden_size": 24}, {"minutes": 0.01, "precision": "fp32", "batch_size": 4, "seq_len": 8}, tmp_path / "run"))
    assert trainer.cfg.precision == "fp32"
    assert any(" in fp32 is about" in note for note in trainer.notes)


def test_a_full_config_is_taken_as_it_is(corpus_file, tmp_path):
    trainer = new_trainer(RunRequest([str(corpus_file)], TINY_MODEL, TrainConfig(minutes=0.01, batch_size=4, seq_len=8), tmp_path / "run"))
    assert trainer.cfg.lr == TrainConfig.lr and not trainer.notes


def test_a_small_text_gets_a_cap_on_passes_within_the_minutes_asked_for(corpus_file, tmp_path, monkeypatch):
    monkeypatch.setattr(measure, "measure_speed", lambda *args, **kwargs: 20_000.0)  # a busy machine still reads it 10+ times
    trainer = new_trainer(RunRequest([str(corpus_file)], {}, {"minutes": 0.5, "batch_size": 4, "seq_len": 8}, tmp_path / "run"))
    assert trainer.minutes == 0.5 and trainer.cfg.epochs == recipe.MAX_PASSES
    assert any(f"so training stops after {recipe.MAX_PASSES:g} passes" in note for note in trainer.notes)


def gpu_plan(minutes: float, train_chars: int, precisions=("fp32", "bf16")):
    """plan_gpu on a made-up GPU: speed grows with the streams until 512, bf16 is 2x fp32 on big models only."""
    def speed(precision: str, batch: int, shape: dict) -> float:
        w = recipe.weights(recipe.Task(65, train_chars), shape["layers"], shape["hidden_size"])
        big = w > 2_000_000
        return 20_000.0 * min(batch, 512) * (1e6 / w) ** 0.5 * (2.0 if precision == "bf16" and big else 1.0)

    task = recipe.Task(65, train_chars, train_chars // 9)
    ref = {"layers": 2, "hidden_size": 256}
    speeds = {p: speed(p, 32, ref) for p in precisions}
    fits = [b for b in recipe.GPU_BATCHES if b * 64 < train_chars]
    return measure.plan_gpu(minutes, task, speeds, fits, speed)


def test_on_a_gpu_a_small_text_gets_the_fewest_streams_that_read_it_often_enough():
    picked = gpu_plan(3, 1_000_000)
    assert picked.stops_early
    b = picked.train["batch_size"]
    assert b < 512 and "the fewest streams that read the text 10 times in the time" in picked.why
    assert picked.train["precision"] == "bf16"  # measured on the model chosen, not the small reference
    assert gpu_plan(1, 1_000_000).train["batch_size"] >= b  # less time: more streams to read it as often


def test_on_a_gpu_a_large_text_gets_the_knee_of_the_speed_curve():
    picked = gpu_plan(3, 500_000_000)
    assert not picked.stops_early and picked.train["batch_size"] == 256  # half of the fastest (512)
    assert "read at 0.5 of the fastest speed" in picked.why


def test_plan_twice_in_a_row_prints_the_same_command_though_the_speed_wobbles(tmp_path, monkeypatch):
    words = ["the", "king", "shall", "speak", "and", "all", "resolved", "rather", "to", "die", "than", "famish"]
    text = " ".join(words[(i * i + 3 * i) % len(words)] for i in range(60_000)) + "\n"  # ~330K characters
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text, encoding="utf-8")
    train_chars = len(text) - int(len(text) * 0.1)
    wobble = {"factor": 1.0}

    def speed(vocab_size, device, precision, model, batch=recipe.BATCH, steps=6):
        # A 2x384 runs exactly at the speed that feeds it in 10 minutes; wobbled, it is fed or not.
        need = recipe.feeding_speed(recipe.Task(vocab_size, train_chars), (2, 384), 600)
        return wobble["factor"] * need * (1.0 if model["hidden_size"] == 384 else 3.0)

    monkeypatch.setattr(measure, "measure_speed", speed)

    def planned(factor: float) -> list[str]:
        wobble["factor"] = factor
        result = chargen("train", corpus, "--minutes", "10", "--plan")
        assert result.exit_code == 0, result.output
        return result.stdout.splitlines()

    first, second = planned(1.15), planned(0.87)  # +15%, then -15%: alone, 2x384 then 2x256
    assert "--hidden-size 384" in first[-1] and second[-1] == first[-1]
    assert "near a threshold: a 2x384 is fed from" in first[-2]
    assert "within a factor 2, its own spread), so that the same command trains the same model" in second[-2]
    assert "--hidden-size 256" in planned(0.5)[-1]  # a machine 2.3x slower is planned for afresh
