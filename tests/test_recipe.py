import torch

from chargen import recipe
from chargen.config import TrainConfig
from chargen.device import usable_precisions
from chargen.launch import new_trainer

from conftest import TINY_MODEL


def choose(minutes: float, chars_per_s: float, train_chars: int, large_chars_per_s: float | None = None):
    return recipe.choose(minutes, {"fp32": chars_per_s}, large_chars_per_s, recipe.Task(65, train_chars))


def test_short_budgets_get_the_reference_model_with_a_high_learning_rate():
    picked = choose(2.5, 25_000, 1_000_000)  # 3.75M characters
    assert picked.model == {"cell": "lstm", "layers": 2, "hidden_size": 256, "dropout": 0.0}
    assert picked.train["lr"] == 5e-3 and picked.train["batch_size"] == 32
    assert "3.8M characters (3.8 passes" in picked.why


def test_longer_budgets_take_more_steps_of_a_smaller_batch():
    picked = choose(5, 25_000, 1_000_000)  # 7.5M characters
    assert (picked.train["batch_size"], picked.train["lr"]) == (16, 4e-3)
    assert choose(10, 25_000, 1_000_000).train["batch_size"] == 32  # 15M: the full batch again


def test_many_passes_over_the_corpus_add_dropout():
    assert choose(5, 25_000, 1_000_000).model["dropout"] == 0.0  # 7.5 passes: still learning
    assert choose(10, 25_000, 1_000_000).model["dropout"] == 0.1  # 15 passes: starting to memorise
    assert choose(10, 25_000, 500_000).model["dropout"] == 0.2  # 30 passes


def test_the_large_model_only_when_it_can_read_enough_in_the_budget():
    # A fast CPU reads 30M reference characters in 10 minutes, but the large model only a few million.
    assert choose(10, 50_000, 1_000_000, large_chars_per_s=7_000).model["hidden_size"] == 256
    picked = choose(3, 1_000_000, 1_000_000, large_chars_per_s=400_000)  # a GPU
    assert (picked.model["layers"], picked.model["hidden_size"], picked.train["seq_len"]) == (3, 512, 128)
    assert "72.0M characters" in picked.why


def test_bf16_only_when_clearly_faster():
    assert recipe.pick_precision({"fp32": 30_000, "bf16": 50_000}) == "bf16"
    assert recipe.pick_precision({"fp32": 30_000, "bf16": 33_000}) == "fp32"  # within the noise: not worth it
    assert recipe.pick_precision({"fp32": 30_000}) == "fp32"
    assert recipe.pick_precision({"bf16": 30_000}) == "bf16"  # asked for explicitly
    picked = recipe.choose(2.5, {"fp32": 30_000, "bf16": 50_000}, None, recipe.Task(65, 1_000_000))
    assert picked.train["precision"] == "bf16" and "bf16 autocast (1.7x the fp32 speed)" in picked.why


def test_measured_speed_is_positive_in_both_precisions():
    for precision in usable_precisions(torch.device("cpu")):
        speed = recipe.measure_speed(30, torch.device("cpu"), precision, {"hidden_size": 16}, {"batch_size": 2, "seq_len": 4},
                                     steps=1)
        assert speed > 0


def test_a_time_budget_fills_only_the_options_left_unchosen(corpus_file, tmp_path):
    trainer = new_trainer([str(corpus_file)], {"hidden_size": 24}, {"minutes": 0.01, "batch_size": 4, "seq_len": 8},
                          tmp_path / "run")
    assert trainer.model_config.hidden_size == 24 and trainer.model_config.layers == 2
    assert (trainer.cfg.batch_size, trainer.cfg.seq_len, trainer.cfg.lr) == (4, 8, 5e-3)
    assert any(note.startswith("recipe: 0.01 minutes at") for note in trainer.notes)


def test_an_explicit_precision_is_measured_and_kept(corpus_file, tmp_path):
    trainer = new_trainer([str(corpus_file)], {"hidden_size": 24},
                          {"minutes": 0.01, "precision": "fp32", "batch_size": 4, "seq_len": 8}, tmp_path / "run")
    assert trainer.cfg.precision == "fp32"
    assert any(" in fp32 is about" in note for note in trainer.notes)


def test_a_full_config_is_taken_as_it_is(corpus_file, tmp_path):
    trainer = new_trainer([str(corpus_file)], TINY_MODEL, TrainConfig(minutes=0.01, batch_size=4, seq_len=8),
                          tmp_path / "run")
    assert trainer.cfg.lr == TrainConfig.lr and not trainer.notes
