"""The NumPy equations are an oracle for torch's fused kernels: the same outputs, states and every
parameter gradient, to 1e-6 in float64, over consecutive windows with the state carried between them."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from chargen.config import CELLS, ModelConfig
from chargen.model.equations import Network
from chargen.model.charrnn import CharRNN

# torch-rnn's habit: tiny, distinct dimensions so a mixed-up axis cannot pass.
N, T, V, H, E, WINDOWS = 3, 5, 7, 6, 4, 3


def torch_model(cell: str, embed_dim: int, layers: int = 2) -> CharRNN:
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=V, cell=cell, layers=layers, hidden_size=H, embed_dim=embed_dim))
    with torch.no_grad():  # past the tidy initialisation: saturating gates, negative ReLU inputs
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return model.double()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("embed_dim", [0, E])
def test_outputs_states_and_every_gradient_match_torch_window_after_window(cell, embed_dim):
    model = torch_model(cell, embed_dim)
    net = Network(model.config, model.state_dict())
    rng = np.random.default_rng(1)
    ids = rng.integers(0, V, (N, WINDOWS * T + 1))
    torch_state, state = None, None
    for w in range(WINDOWS):
        x, y = ids[:, w * T : (w + 1) * T], ids[:, w * T + 1 : (w + 1) * T + 1]
        model.zero_grad()
        logits, new_torch_state = model(torch.from_numpy(x), torch_state)
        F.cross_entropy(logits.reshape(-1, V), torch.from_numpy(y).reshape(-1)).backward()
        run = net.forward(x, state)
        grads = net.backward(run, y)
        np.testing.assert_allclose(run.logits, logits.detach().numpy(), rtol=1e-6, atol=1e-9)
        for name, p in model.named_parameters():
            np.testing.assert_allclose(grads.params[name], p.grad.numpy(), rtol=1e-6, atol=1e-9, err_msg=name)
        h_torch = new_torch_state[0].detach().numpy()  # (L, N, H)
        np.testing.assert_allclose(np.stack([h for h, _ in run.state]), h_torch, rtol=1e-6, atol=1e-9)
        if cell == "lstm":
            c_torch = new_torch_state[1].detach().numpy()
            np.testing.assert_allclose(np.stack([c for _, c in run.state]), c_torch, rtol=1e-6, atol=1e-9)
        torch_state = tuple(s.detach() for s in new_torch_state)  # truncated BPTT: carried, not differentiated
        state = run.state


@pytest.mark.parametrize("cell", CELLS)
def test_the_gradient_of_the_last_prediction_reaches_each_earlier_state_as_autograd_says(cell):
    """The per-step state gradients that gradient-flow plots show, against torch.autograd on the equations."""
    model = torch_model(cell, E, layers=1)
    net = Network(model.config, model.state_dict())
    ids = np.random.default_rng(2).integers(0, V, (N, T + 1))
    grads = net.backward(net.forward(ids[:, :-1]), ids[:, 1:], last_only=True)
    # The same quantity with autograd: run torch's cell one step at a time and keep every state's grad.
    x = model.embed(torch.from_numpy(ids[:, :-1]))
    state = tuple(torch.zeros(1, N, H, dtype=torch.float64) for _ in range(2 if cell == "lstm" else 1))
    kept = []
    for t in range(T):
        out, state = model.rnn(x[:, t : t + 1], state if cell == "lstm" else state[0])
        state = state if cell == "lstm" else (state,)
        for s in state:
            s.retain_grad()
        kept.append(state)
    loss = F.cross_entropy(model.head(state[0][0]), torch.from_numpy(ids[:, -1]))  # h_T itself, (N, H)
    loss.backward()
    # A state nothing later reads (c_T) has no gradient: zero.
    norms = np.stack([np.sqrt(sum((s.grad[0] ** 2).sum(1).numpy() for s in st if s.grad is not None)) for st in kept],
                     axis=1)
    np.testing.assert_allclose(grads.state_norms, norms, rtol=1e-6, atol=1e-12)
    assert grads.loss == pytest.approx(loss.item())
