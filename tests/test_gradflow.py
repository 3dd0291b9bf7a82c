"""The physics the lectures teach, measured on real text: the tanh RNN's gradients vanish within a few
dozen steps, the LSTM's carry orders of magnitude further, and the identity-initialised ReLU RNN keeps
them near their size at initialisation."""

import json

import numpy as np
import pytest

from chargen.views.gradflow import Flow, gradient_flow

from conftest import BUNDLED, TINYSHAKESPEARE, chargen

# tinyshakespeare where ../shared has it, else the bundled corpus (a fresh clone): every threshold below holds
# on both, with the margin measured on each (hidden 64, 200 steps at lr 5e-3, seed 1; 1 or 2 torch threads alike).
CORPUS = TINYSHAKESPEARE if TINYSHAKESPEARE.is_file() else BUNDLED
K = 60


@pytest.fixture(scope="module")
def flows():
    # eval_chars: the one evaluation (at the end) reads 8K characters, not the bundled text's 500K held out.
    found = gradient_flow([str(CORPUS)], ["rnn-tanh", "rnn-relu:identity", "lstm"], 200, K, {"layers": 1, "hidden_size": 64},
                          {"batch_size": 32, "seq_len": 64, "lr": 5e-3, "warmup_steps": 20, "seed": 1, "eval_chars": 8192})
    return {(f.cell, f.stage.split()[0]): f.norms / f.norms[0] for f in found}


def test_the_tanh_rnn_forgets_within_a_few_dozen_steps(flows):
    # Largest of either stage, tinyshakespeare / bundled: at k = 30 2.9e-8 / 1.8e-7; at k = 60 3.0e-15 / 5.1e-14.
    for stage in ("initialisation", "after"):
        assert flows["rnn-tanh", stage][30] < 1e-4 and flows["rnn-tanh", stage][K] < 1e-8


def test_the_lstm_carries_gradients_orders_of_magnitude_further(flows):
    # After training, at k = 60: 4.2e7 times the tanh RNN's on tinyshakespeare, 2.4e4 times on the bundled text.
    assert flows["lstm", "after"][K] > 1e3 * flows["rnn-tanh", "after"][K]


def test_the_identity_initialised_relu_rnn_keeps_its_gradient_at_initialisation(flows):
    # 0.69 on tinyshakespeare, 0.70 on the bundled text.
    assert flows["rnn-relu:identity", "initialisation"][K] > 0.3


def test_reach_is_where_the_gradient_falls_to_one_percent():
    assert Flow("lstm", "initialisation", np.array([1.0, 0.5, 0.02, 0.009, 0.5])).reach == 3
    assert Flow("lstm", "initialisation", np.array([1.0, 0.5, 0.02])).reach is None


def test_gradflow_command_prints_the_chart_and_writes_json(tmp_path):
    # 200K characters of the corpus: the command evaluates once at the end, on all the text it holds out.
    text = tmp_path / "excerpt.txt"
    text.write_text(CORPUS.read_text(encoding="utf-8")[:200_000], encoding="utf-8")
    result = chargen("gradflow", text, "--cells", "rnn-tanh,gru", "--steps", 5, "--horizon", 20, "--hidden-size", 16,
                     "--json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [(r["cell"], r["stage"]) for r in records] == [("rnn-tanh", "initialisation"), ("rnn-tanh", "after 5 steps"),
                                                           ("gru", "initialisation"), ("gru", "after 5 steps")]
    assert all(len(r["norms"]) == 21 for r in records) and records[1]["clipped"] is not None
    chart = chargen("gradflow", text, "--cells", "lstm", "--steps", 5, "--horizon", 20, "--hidden-size", 16,
                    env={"NO_COLOR": "1"})
    assert chart.exit_code == 0 and "reach (1%)" in chart.stdout and "\x1b[" not in chart.stdout
    page = chargen("gradflow", text, "--cells", "lstm", "--steps", 2, "--horizon", 20, "--hidden-size", 16,
                   "-o", tmp_path / "flow.html")
    assert page.exit_code == 0, page.output
    assert '<section id="gradflow">' in (tmp_path / "flow.html").read_text(encoding="utf-8")
    for cells, message in (("transformer", "unknown cell 'transformer'"), ("lstm:magic", "unknown init 'magic'"),
                           ("gru:identity", "--init identity is for plain RNNs")):
        bad = chargen("gradflow", "--cells", cells)
        assert bad.exit_code == 1 and message in bad.stderr
