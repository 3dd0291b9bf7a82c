import torch

from chargen import recipe
from chargen.config import TrainConfig
from chargen.train import new_trainer

from conftest import TINY_MODEL


def test_short_budgets_get_the_reference_model_with_a_high_learning_rate():
    picked = recipe.choose(2.5, 25_000, 1_000_000)  # 3.75M characters
    assert picked.model == {"cell": "lstm", "layers": 2, "hidden_size": 256, "dropout": 0.0}
    assert picked.train["lr"] == 5e-3 and picked.train["batch_size"] == 32
    assert "3.8M characters (3.8 passes" in picked.why


def test_longer_budgets_take_more_steps_of_a_smaller_batch():
    picked = recipe.choose(5, 25_000, 1_000_000)  # 7.5M characters
    assert (picked.train["batch_size"], picked.train["lr"]) == (16, 4e-3)
    assert recipe.choose(10, 25_000, 1_000_000).train["batch_size"] == 32  # 15M: the full batch again


def test_many_passes_over_a_small_corpus_add_dropout():
    assert recipe.choose(10, 25_000, 500_000).model["dropout"] == 0.1  # 30 passes
    assert recipe.choose(10, 25_000, 1_000_000).model["dropout"] == 0.0  # 15 passes: still learning


def test_a_gpu_sized_budget_gets_the_large_model():
    picked = recipe.choose(3, 1_000_000, 1_000_000)
    assert (picked.model["layers"], picked.model["hidden_size"], picked.train["seq_len"]) == (3, 512, 128)


def test_measured_speed_is_positive():
    assert recipe.measure_speed(30, torch.device("cpu"), steps=1) > 0


def test_a_time_budget_fills_only_the_options_left_unchosen(corpus_file, tmp_path):
    trainer = new_trainer([str(corpus_file)], {"hidden_size": 24}, {"minutes": 0.01, "batch_size": 4, "seq_len": 8},
                          tmp_path / "run")
    assert trainer.model_config.hidden_size == 24 and trainer.model_config.layers == 2
    assert (trainer.cfg.batch_size, trainer.cfg.seq_len, trainer.cfg.lr) == (4, 8, 5e-3)
    assert any(note.startswith("recipe: 0.01 minutes at") for note in trainer.notes)


def test_a_full_config_is_taken_as_it_is(corpus_file, tmp_path):
    trainer = new_trainer([str(corpus_file)], TINY_MODEL, TrainConfig(minutes=0.01, batch_size=4, seq_len=8),
                          tmp_path / "run")
    assert trainer.cfg.lr == TrainConfig.lr and not trainer.notes
