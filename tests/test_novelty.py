"""Copying: the n-gram index finds exactly the n-grams a text shares with the training text, and a model
that memorised its text is caught copying it, while held-out text copies little."""

import numpy as np
import pytest

from chargen.store.checkpoint import load_checkpoint
from chargen.config import TrainConfig
from chargen.train.request import RunRequest
from chargen.train.launch import new_trainer
from chargen.store.sources import training_corpus
from chargen.views.novelty import SIZES, NgramIndex, TrainingText, measure, ngram_hashes

from conftest import TEXT, chargen


def test_rolling_hashes_are_those_of_each_ngram_alone():
    ids = np.random.default_rng(0).integers(0, 5, 300).astype(np.uint8)
    hashes = dict(ngram_hashes(ids))
    assert set(hashes) == set(SIZES)
    for n in SIZES:
        assert len(hashes[n]) == len(ids) - n + 1
        same = {tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)}
        assert len(np.unique(hashes[n])) == len(same)  # equal n-grams, equal hashes; no collisions here
        one = dict(ngram_hashes(ids[37 : 37 + n]))[n][0]  # a hash depends on the n-gram only
        assert hashes[n][37] == one


def test_the_index_finds_exactly_the_shared_ngrams():
    rng = np.random.default_rng(1)
    train = rng.integers(0, 4, 5000).astype(np.uint8)
    index = NgramIndex.build(train)
    probe = np.concatenate([train[1000:1100], rng.integers(0, 4, 100).astype(np.uint8)])
    for n, hits in index.found(probe).items():
        known = {tuple(train[i : i + n]) for i in range(len(train) - n + 1)}
        assert hits.tolist() == [tuple(probe[i : i + n]) in known for i in range(len(probe) - n + 1)]


@pytest.fixture(scope="module")
def memorised(tmp_path_factory):
    root = tmp_path_factory.mktemp("novelty")
    # A text to learn by heart, then a held-out tail of its characters shuffled (10% of the whole).
    tail = "".join(np.random.default_rng(0).permutation(list(TEXT))[: len(TEXT) // 3])
    (root / "corpus.txt").write_text(TEXT * 3 + tail)
    cfg = TrainConfig(batch_size=4, seq_len=32, steps=400, lr=1e-2, warmup_steps=10, eval_every=400, val_fraction=0.1)
    trainer = new_trainer(RunRequest([str(root / "corpus.txt")], {"hidden_size": 64, "embed_dim": 16}, cfg, root / "run"))
    list(trainer.run())
    return root


def test_a_model_that_memorised_its_text_is_caught_copying(memorised, monkeypatch, tmp_path):
    monkeypatch.setenv("CHARGEN_CACHE_DIR", str(tmp_path))
    report = measure(load_checkpoint(memorised / "run" / "latest.pt"), count=4, length=300, temperature=0.2)
    assert report.generated.shares[40] > 0.8  # low temperature on a memorised text: long copies
    assert report.generated.longest is not None and len(report.generated.longest.text) >= 80
    assert report.generated.longest.where.startswith("line ") and "corpus.txt" in report.generated.longest.where
    assert report.generated.longest.text in (memorised / "corpus.txt").read_text()  # really found, as located
    assert report.validation.shares[20] < 0.5 < report.generated.shares[80]  # the held-out tail copies less


def test_the_index_is_built_once_and_then_read_from_the_cache(memorised, monkeypatch, tmp_path):
    monkeypatch.setenv("CHARGEN_CACHE_DIR", str(tmp_path))
    corpus = training_corpus(load_checkpoint(memorised / "run" / "latest.pt"))
    TrainingText(corpus, 0.1)
    cached = list(tmp_path.glob("*.ngrams-v1.npz"))
    assert len(cached) == 1
    monkeypatch.setattr(NgramIndex, "build", lambda ids: pytest.fail("rebuilt although cached"))
    TrainingText(corpus, 0.1)


def test_novelty_command_reports_both_texts(memorised):
    result = chargen("novelty", "-c", memorised / "run" / "latest.pt", "--samples", 3, "--length", 200, "--temp", 0.3,
                     "--json")
    assert result.exit_code == 0, result.output
    import json

    record = json.loads(result.stdout)
    assert set(record["generated"]["shares"]) == {str(n) for n in SIZES}
    assert record["validation"] is not None


def test_novelty_says_so_when_the_training_text_is_gone(memorised, tmp_path):
    import shutil

    moved = tmp_path / "run"
    shutil.copytree(memorised / "run", moved)
    (memorised / "corpus.txt").rename(memorised / "corpus.bak")
    try:
        result = chargen("novelty", "-c", moved / "latest.pt")
    finally:
        (memorised / "corpus.bak").rename(memorised / "corpus.txt")
    assert result.exit_code == 1 and "training text" in result.stderr and "is gone" in result.stderr
