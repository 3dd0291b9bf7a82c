"""Weight-drop and locked dropout (chargen.model.regularisation): they regularise training only, hold their masks
as promised, leave the model's parameters and evaluation those of the plain model, and resume bit for bit."""

import pytest
import torch
from torch.nn.utils.rnn import pack_sequence

from chargen.config import CELLS, ModelConfig
from chargen.errors import ChargenError
from chargen.model.charrnn import CharRNN
from chargen.model.regularisation import RegularisedStack, locked_dropout
from chargen.store import runs
from chargen.store.checkpoint import load_checkpoint
from chargen.train.launch import resume_trainer
from chargen.train.request import RunRequest
from test_train import make

from conftest import run_to_end

V, H, E, B, T = 11, 16, 8, 3, 12
ALL = {"weight_drop": 0.3, "input_dropout": 0.2, "dropout": 0.3, "locked_dropout": True}


def models(cell: str, **regularisers) -> tuple[CharRNN, CharRNN]:
    """A plain model and a regularised one with the same weights."""
    plain = CharRNN(ModelConfig(vocab_size=V, cell=cell, layers=3, hidden_size=H, embed_dim=E))
    regularised = CharRNN(ModelConfig(vocab_size=V, cell=cell, layers=3, hidden_size=H, embed_dim=E, **regularisers))
    regularised.load_state_dict(plain.state_dict())
    return plain, regularised


@pytest.mark.parametrize("cell", CELLS)
def test_the_regularised_model_has_the_plain_models_parameters_and_evaluates_as_it_does(cell):
    plain, regularised = models(cell, **ALL)
    assert plain.state_dict().keys() == regularised.state_dict().keys()
    ids = torch.randint(0, V, (B, T))
    torch.testing.assert_close(regularised.eval()(ids)[0], plain.eval()(ids)[0], rtol=0, atol=0)
    train_logits, _ = regularised.train()(ids)
    assert not torch.allclose(train_logits, plain(ids)[0])


def test_weight_drop_drops_recurrent_weights_and_their_gradients_reach_the_kept_ones():
    plain, dropped = models("lstm", weight_drop=0.5)
    torch.manual_seed(0)
    dropped.train()(torch.randint(0, V, (B, T)))[0].sum().backward()
    grads = [dropped.rnn.get_parameter(f"weight_hh_l{k}").grad for k in range(3)]
    # Dropped weights take no gradient: about half of each recurrent matrix, one mask for the whole window.
    assert all(0.35 < (g == 0).float().mean() < 0.65 for g in grads)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in dropped.parameters())


@pytest.mark.parametrize("cell", CELLS)
def test_the_stack_run_layer_by_layer_is_the_fused_stack(cell):
    """Locked dropout between layers runs them one at a time; with nothing dropped that is the stack itself."""
    plain, _ = models(cell)
    x, state = torch.randn(B, T, E), plain.init_state(B)
    state = state if cell == "lstm" else state[0]
    state = tuple(torch.randn_like(s) for s in state) if cell == "lstm" else torch.randn_like(state)
    fused, fused_state = plain.rnn(x, state)
    layered, layered_state = RegularisedStack(plain.rnn)(x, state, weight_drop=0.0, between=1e-12, locked=True)
    torch.testing.assert_close(layered, fused)
    for a, b in zip(layered_state if cell == "lstm" else (layered_state,), fused_state if cell == "lstm" else (fused_state,)):
        torch.testing.assert_close(a, b)


def test_a_locked_mask_is_held_over_every_time_step_of_a_stream():
    out = locked_dropout(torch.ones(4, 50, 32), 0.5)
    assert torch.equal(out, out[:, :1].expand_as(out))  # one mask per stream and feature...
    assert 0.3 < (out[:, 0] == 0).float().mean() < 0.7 and set(out.unique().tolist()) == {0.0, 2.0}
    assert not torch.equal(out[0, 0], out[1, 0])  # ...drawn afresh for each stream


def test_a_locked_mask_follows_each_packed_sequence_through_its_own_steps():
    lengths = [7, 5, 2]
    packed = pack_sequence([torch.ones(n, 16) for n in lengths])
    out = locked_dropout(packed, 0.5)
    rows = out.data.split(out.batch_sizes.tolist())  # time-major: step t holds the sequences still running
    for t, step in enumerate(rows):
        assert torch.equal(step, rows[0][: len(step)]), f"step {t} drew a new mask"


def test_line_mode_trains_with_every_regulariser():
    model = CharRNN(ModelConfig(vocab_size=V, layers=2, hidden_size=H, embed_dim=E, **ALL)).train()
    packed = pack_sequence([torch.randint(0, V, (n,)) for n in (9, 6, 3)])
    logits, _ = model(packed)
    assert logits.shape == (18, V)
    logits.sum().backward()


@pytest.mark.parametrize("option", ["weight_drop", "input_dropout"])
def test_a_rate_outside_0_to_1_is_a_user_error(option):
    with pytest.raises(ChargenError, match="--" + option.replace("_", "-")):
        ModelConfig(vocab_size=V, **{option: 1.0})


def test_a_run_with_every_regulariser_resumes_bit_for_bit(corpus_file, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    run_to_end(make(corpus_file, whole, ALL))
    assert run_to_end(make(corpus_file, split, ALL), stop_after=13)[-1].reason == "interrupted"
    run_to_end(resume_trainer(RunRequest.resuming(split)))
    a, b = load_checkpoint(whole / runs.LATEST).weights, load_checkpoint(split / runs.LATEST).weights
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("others, says", [({"dropout": 0.0}, True), ({"dropout": 0.0, "input_dropout": 0.1}, False),
                                          ({"dropout": 0.2}, False)])
def test_the_log_says_when_locked_dropout_has_no_dropout_to_lock(corpus_file, tmp_path, others, says):
    trainer = make(corpus_file, tmp_path / "run", {"locked_dropout": True, **others})
    assert any("--locked-dropout locks nothing" in note for note in trainer.notes) == says
