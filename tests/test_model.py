import math

import pytest
import torch
import torch.nn.functional as F

from chargen.config import CELLS, ModelConfig
from chargen.errors import ChargenError
from chargen.model.charrnn import CharRNN, detach_state

# torch-rnn's habit: tiny, distinct dimensions so a mixed-up axis cannot pass.
N, T, V, H, E = 3, 7, 5, 6, 4


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("embed_dim", [0, E])
def test_three_chunks_with_carried_state_equal_one_full_pass(cell, embed_dim):
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=V, cell=cell, layers=2, hidden_size=H, embed_dim=embed_dim)).eval()
    ids = torch.randint(0, V, (N, 3 * T))
    full, full_state = model(ids)
    state, chunks = None, []
    for chunk in ids.split(T, dim=1):
        logits, state = model(chunk, state)
        state = detach_state(state)
        chunks.append(logits)
    assert full.shape == (N, 3 * T, V)
    torch.testing.assert_close(torch.cat(chunks, dim=1), full, rtol=1e-5, atol=1e-6)
    for a, b in zip(state, full_state):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_loss_at_initialisation_is_close_to_log_vocab(cell):
    torch.manual_seed(0)
    vocab = 65
    model = CharRNN(ModelConfig(vocab_size=vocab, cell=cell, hidden_size=32))
    ids = torch.randint(0, vocab, (8, 32))
    logits, _ = model(ids)
    loss = F.cross_entropy(logits.flatten(0, 1), ids.flatten())
    assert abs(loss.item() - math.log(vocab)) < 0.15


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_starts_as_torch_starts_it_as_measured(cell):
    """bench/init.py: torch's own initialisation learned fastest for every cell (docs/benchmarks.md)."""
    torch.manual_seed(3)
    ours = CharRNN(ModelConfig(vocab_size=V, cell=cell, hidden_size=H))
    torch.manual_seed(3)
    torch.nn.Embedding(V, 64)  # drawn first, as CharRNN does
    kind = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(cell)
    reference = kind(64, H, 2) if kind else torch.nn.RNN(64, H, 2, nonlinearity=cell.removeprefix("rnn-"))
    assert all(torch.equal(a, b) for a, b in zip(ours.rnn.parameters(), reference.parameters()))


def test_the_classic_initialisations_are_there_to_choose():
    lstm = CharRNN(ModelConfig(vocab_size=V, cell="lstm", hidden_size=H, init="forget-1"))
    bias = lstm.rnn.bias_ih_l0 + lstm.rnn.bias_hh_l0
    assert torch.all(bias[H : 2 * H] == 1) and torch.all(bias[:H] == 0)  # forget gate starts open
    irnn = CharRNN(ModelConfig(vocab_size=V, cell="rnn-relu", hidden_size=H, init="identity"))
    assert torch.equal(irnn.rnn.weight_hh_l1, torch.eye(H))
    ortho = CharRNN(ModelConfig(vocab_size=V, cell="gru", hidden_size=H, init="orthogonal"))
    for block in ortho.rnn.weight_hh_l0.split(H):
        torch.testing.assert_close(block @ block.T, torch.eye(H), atol=1e-5, rtol=0)
    with pytest.raises(ChargenError, match="forget-1 is for LSTMs"):
        ModelConfig(vocab_size=V, cell="gru", init="forget-1")


def test_gradients_reach_every_parameter():
    model = CharRNN(ModelConfig(vocab_size=V, cell="gru", layers=2, hidden_size=H, embed_dim=E, dropout=0.1))
    logits, _ = model(torch.randint(0, V, (N, T)))
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_flop_count_matches_the_parameters_used_per_character():
    cfg = ModelConfig(vocab_size=V, cell="lstm", layers=2, hidden_size=H, embed_dim=E)
    model = CharRNN(cfg)
    matmul_weights = sum(p.numel() for n, p in model.named_parameters() if "weight" in n and "embed" not in n)
    assert cfg.matmul_params() == matmul_weights
    assert cfg.train_flops_per_char() == 6 * matmul_weights


@pytest.mark.parametrize("options", [{"cell": "transformer"}, {"layers": 0}, {"dropout": 1.0}, {"embed_dim": -1}])
def test_bad_model_options_are_user_errors(options):
    with pytest.raises(ChargenError):
        ModelConfig(vocab_size=V, **options)
