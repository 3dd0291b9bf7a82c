"""--init-from: a new run starts from a trained model's weights, its vocabulary grown by the new text."""

import json

import pytest
import torch

from chargen.store import runs
from chargen.store.checkpoint import load_checkpoint
from chargen.config import ModelConfig, TrainConfig
from chargen.errors import ChargenError
from chargen.train.finetune import grown_vocab, transplant
from chargen.train.request import RunRequest
from chargen.train.launch import new_trainer
from chargen.model.charrnn import CharRNN
from chargen.data.vocab import Vocab

from conftest import TINY_MODEL, TINY_TRAIN, chargen


@pytest.mark.parametrize("embed_dim", [0, 4])
def test_known_characters_keep_their_rows_and_their_predictions(embed_dim):
    parent_vocab, new_text = Vocab("abc"), Vocab.from_text("aXc!")
    vocab = grown_vocab(parent_vocab, new_text)
    assert vocab.chars == "!Xabc"
    torch.manual_seed(0)
    parent = CharRNN(ModelConfig(vocab_size=3, hidden_size=6, embed_dim=embed_dim)).eval()
    child = CharRNN(ModelConfig(vocab_size=vocab.size, hidden_size=6, embed_dim=embed_dim)).eval()
    child.load_state_dict(transplant(parent.state_dict(), parent_vocab, vocab))
    text = "abcabca"
    with torch.no_grad():
        before, _ = parent(torch.from_numpy(parent_vocab.encode(text).astype("int64"))[None])
        after, _ = child(torch.from_numpy(vocab.encode(text).astype("int64"))[None])
    known = [vocab.chars.index(ch) for ch in parent_vocab.chars]
    torch.testing.assert_close(after[..., known], before)  # the same logits for every character it knew
    new = [vocab.chars.index(ch) for ch in "!X"]
    # and new ones start as unlikely as the least likely character a priori: zero weights, the lowest bias
    torch.testing.assert_close(after[..., new], parent.head.bias.min().expand_as(after[..., new]))
    assert torch.all(after[..., new] < before.mean(-1, keepdim=True))


@pytest.fixture
def parent_run(trained_run):
    """conftest's trained_run (TINY_MODEL), whose text has neither '!' nor 'Z'."""
    return trained_run.path


def test_a_fine_tuned_run_starts_from_the_parent_and_records_it(parent_run, corpus_file, tmp_path):
    new_text = tmp_path / "new.txt"
    new_text.write_text(corpus_file.read_text().replace("Citizen", "Zitizen!") * 2)
    cfg = TrainConfig(**{**TINY_TRAIN, "steps": 8})
    child = new_trainer(RunRequest([str(new_text)], {}, cfg, tmp_path / "child", init_from=parent_run / runs.BEST))
    assert child.model_config.hidden_size == TINY_MODEL["hidden_size"]  # the parent's architecture
    assert any("2 characters: '!' (U+0021), 'Z' (U+005A)" in note and "never saw" in note for note in child.notes)
    parent = load_checkpoint(parent_run / runs.BEST)
    vocab = child.corpus.vocab
    for ch in parent.vocab.chars:  # every known character's embedding came along
        torch.testing.assert_close(child.model.embed.weight[vocab.chars.index(ch)].detach().cpu(),
                                   parent.weights["embed.weight"][parent.vocab.chars.index(ch)])
    list(child.run())
    saved = load_checkpoint(tmp_path / "child" / runs.LATEST)
    assert saved.parent["weights_sha256"] == parent.weights_sha256
    info = chargen("info", "-c", tmp_path / "child", "--json")
    assert json.loads(info.stdout)["parent"]["checkpoint"] == str(parent_run / runs.BEST)


def test_fine_tuning_keeps_the_architecture(parent_run, corpus_file, tmp_path):
    with pytest.raises(ChargenError, match="keeps the parent model's architecture \\(it has --hidden-size 24\\)"):
        new_trainer(RunRequest([str(corpus_file)], {"hidden_size": 64}, TrainConfig(steps=2), tmp_path / "child", init_from=parent_run / runs.BEST))


def test_a_time_budget_fine_tune_keeps_the_model_and_chooses_a_gentle_schedule(parent_run, corpus_file, tmp_path):
    trainer = new_trainer(RunRequest([str(corpus_file)], {}, {"minutes": 0.01, "batch_size": 4, "seq_len": 8}, tmp_path / "child", init_from=parent_run / runs.BEST))
    assert trainer.model_config.hidden_size == TINY_MODEL["hidden_size"]
    assert trainer.cfg.lr == 2e-3 and trainer.cfg.warmup_steps == 20
    assert any("the parent's model, lstm 2x24" in note for note in trainer.notes)


def test_init_from_and_resume_do_not_mix(parent_run, corpus_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = chargen("train", corpus_file, "--init-from", parent_run, "--resume")
    assert result.exit_code == 1 and "use one of them" in result.stderr
