"""Line mode: one item per line, each learned from a fresh state to its end, sampled whole."""

import json

import numpy as np
import pytest
import torch

from chargen.generate.sample import StepModel, sample_text
from chargen.store import runs
from chargen.store.checkpoint import load_checkpoint
from chargen.config import TrainConfig
from chargen.data.corpus import load_corpus
from chargen.errors import ChargenError
from chargen.data.items import ItemData, find_items, pack, split_items
from chargen.train.request import RunRequest
from chargen.train.launch import resume_trainer
from chargen.data.vocab import Vocab

from conftest import NAMES, chargen, names_trainer, train_names


@pytest.fixture
def names_file(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(NAMES) + "\n")
    return path


def test_items_are_the_non_empty_lines_without_their_carriage_returns():
    text = "ab\r\n\ncde\n\r\nf"
    vocab = Vocab.from_text(text)
    starts, lengths = find_items(vocab.encode(text), vocab)
    assert [text[s : s + n] for s, n in zip(starts, lengths)] == ["ab", "cde", "f"]


def test_validation_is_a_fixed_random_share_of_the_items():
    train, val = split_items(100, 0.1)
    assert len(val) == 10 and not set(train) & set(val) and len(train) + len(val) == 100
    assert list(val) != list(range(90, 100))  # not the end of the file
    assert np.array_equal(split_items(100, 0.1)[1], val)  # the same whatever the run's seed


def test_an_evaluation_part_is_the_first_of_the_validation_items(names_file):
    corpus = load_corpus([names_file])
    whole = ItemData(corpus, TrainConfig(lines=True, batch_size=4, val_fraction=0.3))  # 9 items
    part = ItemData(corpus, TrainConfig(lines=True, batch_size=4, val_fraction=0.3, eval_chars=20))
    assert 0 < part.eval_chars <= 20 < whole.eval_chars == whole.val_chars
    read = [y for _, y in part.val_batches()]
    assert sum(len(y) for y in read) == part.eval_chars
    assert np.array_equal(part.eval_items, whole.val[: len(part.eval_items)])


def test_a_run_starts_from_the_frequencies_of_the_training_items_and_their_ends(names_file):
    corpus = load_corpus([names_file])
    data = ItemData(corpus, TrainConfig(lines=True, batch_size=4, val_fraction=0.3))
    targets = "".join(NAMES[i] + "\n" for i in data.train)
    assert data.train_counts.tolist() == [targets.count(ch) for ch in corpus.vocab.chars]


def test_a_packed_batch_reads_each_item_after_the_boundary_and_predicts_its_end():
    text = "ab\nc\n"
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    starts, lengths = find_items(ids, vocab)
    x, y = pack(ids, starts, lengths, int(vocab.encode("\n")[0]))
    unpacked_x, lens = torch.nn.utils.rnn.pad_packed_sequence(x, batch_first=True)
    assert lens.tolist() == [3, 2]
    assert vocab.decode(unpacked_x[0, :3]) == "\nab" and vocab.decode(unpacked_x[1, :2]) == "\nc"
    assert sorted(vocab.decode(y)) == sorted("ab\nc\n")  # every character of every item, and each end


def test_two_processes_share_one_batch_of_items_between_them(names_file):
    corpus = load_corpus([names_file])
    cfg = TrainConfig(batch_size=4, lines=True, val_fraction=0.1)
    whole = ItemData(corpus, TrainConfig(batch_size=8, lines=True, val_fraction=0.1)).batch(1, 2)
    halves = [ItemData(corpus, cfg, shard=(rank, 2)).batch(1, 2) for rank in (0, 1)]
    assert sorted(torch.cat([h.targets for h in halves]).tolist()) == sorted(whole.targets.tolist())
    assert all(h.chars == whole.chars for h in halves)
    # Weighted so that the average of the two processes' weighted means is the batch's per-character
    # mean, whatever the per-character values (here the target ids stand in for losses).
    mean = lambda t: t.double().mean().item()  # noqa: E731
    assert sum(h.weight * mean(h.targets) for h in halves) / 2 == pytest.approx(mean(whole.targets))


def test_line_mode_learns_whole_items_and_where_they_end(trained_line_run):
    records = [json.loads(line) for line in (trained_line_run.path / runs.METRICS).read_text().splitlines()]
    assert records[-1]["step"] == 300 and records[-1]["train_loss"] < 1.0  # 30 names: nearly memorised
    trained = load_checkpoint(trained_line_run.path / runs.LATEST)
    model = StepModel(trained.model_config, trained.weights)
    items = sample_text(model, trained.vocab, 400, temperature=0.5, seed=1, items=True).split("\n")
    assert sum(item in NAMES for item in items) >= len(items) // 2
    assert all(len(item) < 30 for item in items)  # every item ended


def test_a_line_mode_run_resumes_bitwise(names_file, tmp_path):
    whole, _ = train_names(names_file, tmp_path / "whole", steps=60, model={"dropout": 0.1})
    split = names_trainer(names_file, tmp_path / "split", steps=60, model={"dropout": 0.1})
    list(split.run(lambda: split.pos.step >= 25))
    assert load_checkpoint(tmp_path / "split" / runs.LATEST).position.step == 25
    list(resume_trainer(RunRequest.resuming(tmp_path / "split")).run())
    a = load_checkpoint(tmp_path / "whole" / runs.LATEST).weights
    b = load_checkpoint(tmp_path / "split" / runs.LATEST).weights
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_too_few_items_for_a_batch_are_refused(names_file, tmp_path):
    with pytest.raises(ChargenError, match="has 27 items for training, fewer than one batch of --batch-size 64"):
        train_names(names_file, tmp_path / "run", batch_size=64)
    single = tmp_path / "one.txt"
    single.write_text("just one line")
    with pytest.raises(ChargenError, match="the corpus is a single line"):
        train_names(single, tmp_path / "run2")


def test_sample_prints_complete_items_and_says_which_are_new(trained_line_run):
    result = chargen("sample", "-c", trained_line_run.path, "--num-samples", 12, "--seed", 1, "--temp", 0.7)
    assert result.exit_code == 0, result.output
    items = result.stdout.splitlines()
    assert len(items) == 12 and all(items)
    counts = [int(w) for w in result.stderr.replace(",", " ").split() if w.isdigit()]
    assert counts[0] == 12 and counts[1] + counts[2] + counts[3] == 12  # generated = train + val + new
    assert counts[1] == sum(item in NAMES for item in items) - counts[2]


def test_new_only_drops_items_of_the_training_file(trained_line_run):
    names_run = trained_line_run.path
    result = chargen("sample", "-c", names_run, "--num-samples", 3, "--seed", 2, "--temp", 1.5, "--new-only",
                     "--prime", "e")
    assert result.exit_code == 0, result.output
    items = result.stdout.splitlines()
    assert len(items) == 3 and all(item.startswith("e") for item in items)
    from chargen.views.novelty import ItemSets

    known = ItemSets.of(load_checkpoint(names_run / runs.LATEST))
    assert known.train and not set(items) & known.train
    assert "3 new printed" in result.stderr
    assert json.loads(chargen("info", "-c", names_run, "--json").stdout)["mode"] == "lines"


def test_repl_completes_a_typed_beginning_to_the_end_of_an_item(trained_line_run):
    from chargen.views.novelty import ItemSets

    latest = trained_line_run.path / runs.LATEST
    known = ItemSets.of(load_checkpoint(latest)).train
    beginning = next(name[:4] for name in sorted(known) if len(name) >= 7)
    # latest.pt: the memorised list (best.pt is an early step, before validation loss turned up).
    result = chargen("repl", "-c", latest, "--seed", 1, "--temp", 0, input=f"{beginning}\n\n")
    assert result.exit_code == 0, result.output
    first, second = result.stdout.splitlines()
    assert beginning + first in known  # greedy on a memorised list: a name, and there it stops
    assert second in known


def test_eval_scores_each_line_as_an_item(trained_line_run):
    result = chargen("eval", "-c", trained_line_run.path / runs.LATEST, trained_line_run.corpus, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["chars"] == sum(len(n) + 1 for n in NAMES) and record["loss_nats"] < 1.5


def test_sample_new_only_needs_a_line_mode_model(trained_run):
    result = chargen("sample", "-c", trained_run.path, "--new-only")
    assert result.exit_code == 1 and "--new-only is for line-mode models" in result.stderr
