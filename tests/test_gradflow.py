"""The physics the lectures teach, measured on real text: the tanh RNN's gradients vanish within a few
dozen steps, the LSTM's carry orders of magnitude further, and the identity-initialised ReLU RNN keeps
them near their size at initialisation."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from chargen.cli import cli
from chargen.views.gradflow import Flow, gradient_flow

from conftest import TINYSHAKESPEARE

CORPUS = TINYSHAKESPEARE if TINYSHAKESPEARE.is_file() else Path(__file__).resolve().parent.parent / "corpora" / "shakespeare.txt"
K = 60


@pytest.fixture(scope="module")
def flows():
    found = gradient_flow([str(CORPUS)], ["rnn-tanh", "rnn-relu:identity", "lstm"], 300, K, {"layers": 1, "hidden_size": 64},
                          {"batch_size": 32, "seq_len": 64, "lr": 2e-3, "warmup_steps": 20, "seed": 1})
    return {(f.cell, f.stage.split()[0]): f.norms / f.norms[0] for f in found}


def test_the_tanh_rnn_forgets_within_a_few_dozen_steps(flows):
    for stage in ("initialisation", "after"):
        assert flows["rnn-tanh", stage][30] < 1e-4 and flows["rnn-tanh", stage][K] < 1e-8


def test_the_lstm_carries_gradients_orders_of_magnitude_further(flows):
    assert flows["lstm", "after"][K] > 1e3 * flows["rnn-tanh", "after"][K]


def test_the_identity_initialised_relu_rnn_keeps_its_gradient_at_initialisation(flows):
    assert flows["rnn-relu:identity", "initialisation"][K] > 0.3


def test_reach_is_where_the_gradient_falls_to_one_percent():
    import numpy as np

    assert Flow("lstm", "initialisation", np.array([1.0, 0.5, 0.02, 0.009, 0.5])).reach == 3
    assert Flow("lstm", "initialisation", np.array([1.0, 0.5, 0.02])).reach is None


def test_gradflow_command_prints_the_chart_and_writes_json(tmp_path):
    result = CliRunner().invoke(cli, ["gradflow", str(CORPUS), "--cells", "rnn-tanh,gru", "--steps", "5",
                                      "--horizon", "20", "--hidden-size", "16", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [(r["cell"], r["stage"]) for r in records] == [("rnn-tanh", "initialisation"), ("rnn-tanh", "after 5 steps"),
                                                           ("gru", "initialisation"), ("gru", "after 5 steps")]
    assert all(len(r["norms"]) == 21 for r in records) and records[1]["clipped"] is not None
    chart = CliRunner().invoke(cli, ["gradflow", str(CORPUS), "--cells", "lstm", "--steps", "5", "--horizon", "20",
                                     "--hidden-size", "16"], env={"NO_COLOR": "1"})
    assert chart.exit_code == 0 and "reach (1%)" in chart.stdout and "\x1b[" not in chart.stdout
    page = CliRunner().invoke(cli, ["gradflow", str(CORPUS), "--cells", "lstm", "--steps", "2", "--horizon", "20",
                                    "--hidden-size", "16", "-o", str(tmp_path / "flow.html")])
    assert page.exit_code == 0, page.output
    assert '<section id="gradflow">' in (tmp_path / "flow.html").read_text(encoding="utf-8")
    for cells, message in (("transformer", "unknown cell 'transformer'"), ("lstm:magic", "unknown init 'magic'"),
                           ("gru:identity", "--init identity is for plain RNNs")):
        bad = CliRunner().invoke(cli, ["gradflow", "--cells", cells])
        assert bad.exit_code == 1 and message in bad.stderr
