"""The time-budget recipe's rules (chargen.train.recipe), from given speeds: no model is built, no torch needed."""

import subprocess
import sys

from chargen.train import recipe


CPU = 22_800  # chars/s of the reference 2x256 LSTM at batch 32 x 64 on this project's 2-core CPU, fp32
TINY = 1_003_854  # tinyshakespeare's training characters


def choose(minutes: float, train_chars: int = TINY, speed: float = CPU, measure=None, **task):
    return recipe.choose(minutes, {"fp32": speed}, recipe.Task(65, train_chars, train_chars // 9, **task), measure)


def size(picked):
    return picked.model.get("layers", 2), picked.model.get("hidden_size")


def test_the_model_grows_with_what_the_budget_can_feed():
    assert size(choose(2.5)) == (2, 256)  # 3.4M characters: 4.0 per recurrent weight of a 2x256
    assert size(choose(5)) == (2, 256)  # a 2x384 would read 1.9 per weight
    assert size(choose(10)) == (2, 384)
    assert size(choose(30)) == (2, 512)
    gpu = choose(3, speed=1_000_000)
    assert gpu.model["hidden_size"] > 512 and "an evaluation every" in gpu.why


def test_a_small_text_caps_the_width():
    assert size(choose(10, train_chars=110_000)) == (2, 256)


def test_the_speed_of_the_model_chosen_is_measured_and_decides():
    measured = []

    def slow(layers, width):
        measured.append((layers, width))
        return 2_000.0 if width == 512 else 12_000.0  # 512 turns out too slow to feed in 30 minutes

    picked = choose(30, measure=slow)
    assert measured == [(2, 512), (2, 384)] and size(picked) == (2, 384)
    assert "12,000 chars/s" in picked.why


def test_wider_models_get_lower_learning_rates_and_short_budgets_high_ones():
    large = 20_000_000  # a fraction of one pass: no dropout, no weight decay
    assert choose(2.5, train_chars=large).train["lr"] == 5e-3
    assert choose(5, train_chars=large).train["lr"] < choose(2.5, train_chars=large).train["lr"]
    assert choose(10, train_chars=large).train["lr"] == round(4e-3 * 256 / 384, 6)  # 7.1M characters read


def test_more_passes_and_more_weights_per_character_bring_more_dropout():
    # Exposure: passes x recurrent weights per character of training text (a 2x256 has 0.85 per tinyshakespeare character).
    assert choose(10, train_chars=20_000_000).model["dropout"] == 0.0  # a fraction of one pass
    assert choose(5, train_chars=2_000_000).model["dropout"] == 0.0  # 3.4 passes x 0.43
    assert choose(2.5).model["dropout"] == 0.0  # 3.4 passes x 0.85
    assert choose(5).model["dropout"] == 0.1  # 6.8 passes x 0.85: 5.8
    assert choose(10).model["dropout"] == 0.2  # 7.0 passes x 1.9 (a 2x384): 13.1
    assert choose(30).model["dropout"] == 0.3  # stops after 10 passes x 3.3 (a 2x512)
    # The same 10 passes over tinyshakespeare: the narrow model is held back less than the wide one.
    assert choose(30, fixed={"hidden_size": 256}, max_passes=10.0).model["dropout"] == 0.1
    assert choose(10, train_chars=110_000).model["dropout"] == 0.3  # stops after 10 of its 124 passes x 7.7


def test_weight_decay_wherever_the_passes_bring_dropout_but_not_when_fine_tuning():
    assert "weight_decay" not in choose(2.5).train  # exposure 2.9: no dropout and no decay
    assert choose(5).train["weight_decay"] == recipe.WEIGHT_DECAY  # exposure 5.8: dropout 0.1 and decay
    shifted = choose(10, train_chars=20_000_000, val_shift=0.32)  # dropout for the shift, not for the passes
    assert shifted.model["dropout"] == 0.1 and "weight_decay" not in shifted.train
    pressed = choose(30)  # stops after 10 passes x 3.3 (a 2x512)
    assert pressed.train["weight_decay"] == recipe.WEIGHT_DECAY and "dropout 0.3, weight decay 0.1, batch" in pressed.why
    parent = {"cell": "lstm", "layers": 2, "hidden_size": 512, "dropout": 0.3}
    fine_tuned = choose(30, train_chars=110_000, parent=parent)
    assert "weight_decay" not in fine_tuned.train and fine_tuned.train["lr"] == recipe.FINE_TUNE["lr"]


def test_a_model_held_back_by_weight_decay_learns_at_a_higher_rate_up_to_the_cap():
    unpressed = choose(2.5)  # a 2x256 with no dropout: the rate its width gives
    assert unpressed.train["lr"] == 5e-3
    held_back = choose(10)  # a 2x384 with dropout 0.2 reading 7.1M characters: four times 0.0027, capped
    assert held_back.train["lr"] == recipe.MAX_LR
    pressed = choose(30)  # a 2x512 reading 10M characters: 0.002 from its width, four times that
    assert pressed.train["lr"] == recipe.MAX_LR == round(4e-3 * 256 / 512 * recipe.DECAY_LR_SCALE, 6)
    verse = choose(10, train_chars=110_000)  # a 2x256 reading 1.1M characters: 0.005 from its width, capped
    assert verse.train["weight_decay"] == recipe.WEIGHT_DECAY and verse.train["lr"] == recipe.MAX_LR


def test_a_model_the_most_dropout_and_weight_decay_hold_back_is_fed_from_fewer_characters():
    fast = 45_000  # chars/s of the 2x256 in bf16 on this project's CPU
    pressed = choose(10, speed=fast)  # a 2x512 reads 2.6 characters per recurrent weight, 8.6 passes x 3.3 of them
    assert size(pressed) == (2, 512) and pressed.model["dropout"] == 0.3 and pressed.train["weight_decay"] == 0.1
    assert "reads 2+ characters per recurrent weight where the most dropout and weight decay hold it back" in pressed.why
    assert size(choose(5, speed=fast)) == (2, 384)  # 4.7 passes x 3.3 would not press a 2x512 that hard
    large = choose(10, train_chars=20_000_000, speed=fast)  # never 25 passes x weights per character: 3 per weight
    assert size(large) == (2, 384) and "reads 3+ characters" in large.why
    assert recipe.feeding_speed(recipe.Task(65, 20_000_000), (2, 512), 600) == \
        recipe.CHARS_PER_WEIGHT * recipe.recurrent_weights(recipe.Task(65, 20_000_000), 2, 512) / 600


def test_a_validation_text_unlike_the_training_text_gets_dropout_even_in_one_pass():
    shifted = choose(10, train_chars=20_000_000, val_shift=0.32)
    assert shifted.model["dropout"] == 0.1 and "dropout 0.1 (the validation text is unlike the training text: " \
        "+0.32 nats/char for a bigram model)" in shifted.why
    assert choose(10, train_chars=20_000_000, val_shift=0.1).model["dropout"] == 0.0  # as like as prose is
    many_passes = choose(10, train_chars=110_000, val_shift=0.32)
    assert many_passes.model["dropout"] == 0.3 and "unlike" not in many_passes.why  # the passes ask for more


def test_evaluations_take_a_small_share_of_the_budget_however_large_the_validation_text():
    speed = 11_760  # chars/s of the 2x384 LSTM chosen
    steps = 10 * 60 * speed / (32 * 64)
    whole = choose(10)  # 111K validation characters: read whole, several times
    assert "eval_chars" not in whole.train and whole.train["eval_every"] < steps / 3
    large = choose(10, train_chars=20_000_000)  # 2.2M: one whole evaluation would take 100 s of 600
    part = large.train["eval_chars"]
    evals = steps / large.train["eval_every"]
    assert 100_000 <= part < 300_000 and 3.5 <= evals <= 10
    assert evals * part / (3 * speed) < 0.06 * 600  # each evaluation reads a character 3x as fast as training
    assert f"reading {part:,} of the 2,222,222 validation characters" in large.why
    whole = choose(10, train_chars=20_000_000, eval_chars=0)  # the user's --eval-chars 0: all of it, once
    assert "eval_chars" not in whole.train and whole.train["eval_every"] >= 0.9 * steps
    mine = choose(10, train_chars=20_000_000, eval_chars=50_000)  # a part of the user's: spaced to suit it
    assert "eval_chars" not in mine.train and steps / mine.train["eval_every"] >= 2 * evals


def test_options_chosen_by_the_user_are_kept_and_the_rest_suits_them():
    picked = choose(10, measure=lambda layers, width: 4_000.0, fixed={"hidden_size": 768})
    assert "hidden_size" not in picked.model
    assert picked.train["lr"] == round(5e-3 * 256 / 768 * recipe.DECAY_LR_SCALE, 6)
    # (2.4M characters: 2.4 passes x 7.2 weights per character, dropout 0.2 and weight decay)
    assert "4,000 chars/s" in picked.why and "the model you chose" in picked.why


def test_line_mode_reads_whole_items_and_processes_share_the_batch():
    items = choose(2.5, item_chars=8.0)
    assert items.train["batch_size"] == 256 and "batch 256 items" in items.why
    two = choose(2.5, world=2)
    assert two.train["batch_size"] == 16 and "2 processes of 16" in two.why


def test_bf16_only_when_clearly_faster():
    assert recipe.pick_precision({"fp32": 30_000, "bf16": 50_000}) == "bf16"
    assert recipe.pick_precision({"fp32": 30_000, "bf16": 33_000}) == "fp32"  # within the noise: not worth it
    assert recipe.pick_precision({"fp32": 30_000}) == "fp32"
    assert recipe.pick_precision({"bf16": 30_000}) == "bf16"  # asked for explicitly
    picked = recipe.choose(2.5, {"fp32": 30_000, "bf16": 50_000}, recipe.Task(65, 1_000_000))
    assert picked.train["precision"] == "bf16" and "bf16 autocast (1.7x the fp32 speed)" in picked.why


def test_the_users_epochs_with_minutes_plan_for_the_passes_the_run_will_make():
    capped = choose(5, train_chars=400_000, max_passes=2.0)  # 17 passes of time, the user's 2 passes first
    assert capped.model["dropout"] == 0.0 and "epochs" not in capped.train
    assert choose(5, train_chars=400_000).model["dropout"] == 0.2  # all the passes it can use: 10


def test_a_small_text_read_past_the_passes_it_can_use_stops_early():
    small = choose(5, train_chars=110_000)  # 62 passes: learned by heart long before the time is up
    # A cap on passes, not a shorter budget: a machine slower than its probe still makes all ten.
    assert small.train["epochs"] == recipe.MAX_PASSES and "minutes" not in small.train
    assert "training stops after 10 passes (about 0.8 of the 5 minutes)" in small.why
    assert small.model["dropout"] == 0.3 and "62.2 passes" in small.why
    assert "epochs" not in choose(10).train  # 7.1 passes: the whole budget
    assert "epochs" not in choose(5, train_chars=110_000, fixed={"dropout": 0.5}).train  # the user's regulariser
    assert "epochs" not in choose(5, train_chars=110_000, fixed={"hidden_size": 64}).train
    assert "epochs" not in choose(5, train_chars=110_000, item_chars=8.0).train  # line mode: not measured


def test_the_log_says_when_the_width_was_near_a_threshold():
    task = recipe.Task(65, TINY, TINY // 9)
    need = recipe.feeding_speed(task, (2, 384), 600)  # what a 2x384 must run at to be fed in 10 minutes
    # The reference 2x256 at 25,000 chars/s: a 2x512 is estimated at 8,018, too far from its own need (12,814) to be near it.
    runs_at = lambda share: lambda layers, width: share * need  # noqa: E731
    below = recipe.choose(10, {"fp32": 25_000}, task, measure=runs_at(0.9))
    above = recipe.choose(10, {"fp32": 25_000}, task, measure=runs_at(1.1))
    assert below.size == (2, 256) and above.size == (2, 384)
    assert (f"near a threshold: a 2x384 is fed from {need:,.0f} chars/s and runs at {0.9 * need:,.0f} here, within "
            "the probe's own spread of ±30%: not taken") in below.why
    assert f"a 2x384 is fed from {need:,.0f} chars/s and runs at {1.1 * need:,.0f} here" in above.why and ": taken)" in above.why
    far = recipe.choose(10, {"fp32": 25_000}, task, measure=runs_at(2))
    assert "near a threshold" not in far.why  # 11 passes, but capped at 10: no pass count near a threshold either
    near_passes = recipe.choose(10, {"fp32": 25_000}, task, measure=runs_at(1.3))
    assert ("passes over the training text; near a threshold: from 12 passes x recurrent weights per character "
            "(here 13.") in near_passes.why


def test_the_rules_import_without_torch():
    # A fresh interpreter: this one may have imported torch for other tests.
    code = "import sys, chargen.train.recipe; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_a_gpu_batch_is_the_fewest_streams_near_the_fastest_speed():
    assert recipe.pick_batch({32: 1.0, 64: 1.9, 128: 4.0, 256: 4.1}) == 128  # 64 reads at under half of 4.1
    assert recipe.pick_batch({32: 5.0, 64: 1.0}) == 32
