"""The views: surprise heat maps, cell activations, loss plots and the run report, in the terminal and as
self-contained HTML in which corpus and user text is always data, never markup."""

import re
from html.parser import HTMLParser

import numpy as np
import pytest

from chargen.config import TrainConfig
from chargen.train.request import RunRequest
from chargen.train.launch import new_trainer
from chargen.views.neurons import correlations, text_features

from conftest import HOSTILE, TINY_MODEL, chargen

# The run these views show is conftest's trained_run: its corpus and its name (checkpoints/<b>&run) hold markup.


class Page(HTMLParser):
    """The elements a browser would build from a page, and the text it would show."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags, self.shown = [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.shown.append(data)


def no_markup_leaks(html: str) -> None:
    """The hostile text shows as the characters it is, and no element came from it."""
    page = Page(html)
    assert "script" not in page.tags
    shown = "".join(page.shown).replace("⏎", "")
    assert HOSTILE.strip() in shown  # <script>, </div> and &amp; literally, as the corpus has them


def test_heatmap_colours_each_character_and_lists_the_surprises(trained_run, tmp_path):
    run = trained_run.path
    out = tmp_path / "heat.html"
    result = chargen("heatmap", "-c", run, "--text", HOSTILE, "--html", out, env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.stdout  # no colour codes with NO_COLOR or into a pipe
    assert re.search(r"\d+ characters, \d\.\d{3} bits per character", result.stdout)
    assert "The most surprising places" in result.stdout
    html = out.read_text()
    no_markup_leaks(html)
    assert html.count("<span style=\"background:") == len(HOSTILE)  # one coloured span per character
    assert 'title="&lt;: p = ' in html  # the hover text: probability and what was expected


def test_heatmap_defaults_to_the_validation_text_and_refuses_unseen_characters(trained_run):
    run = trained_run.path
    assert chargen("heatmap", "-c", run, "--limit", "200").exit_code == 0
    bad = chargen("heatmap", "-c", run, "--text", "Zebra ☃")
    assert bad.exit_code == 1 and "never saw" in bad.stderr and bad.stderr.count("\n") == 1


def test_neurons_finds_cells_that_track_properties_of_the_text(trained_run, tmp_path):
    run = trained_run.path
    out = tmp_path / "cells.html"
    result = chargen("neurons", "-c", run, "--text", HOSTILE * 2, "--html", out, "--gates", "--count", "3")
    assert result.exit_code == 0, result.output
    labels = re.findall(r"cell (\d+) \(layer 1\): ([a-z ]+), r = ([+-]\d\.\d\d)", result.stdout)
    assert len(labels) == 3 and all(-1 <= float(r) <= 1 for *_, r in labels)
    html = out.read_text()
    no_markup_leaks(html)
    assert "Gate saturation" in html and html.count("<circle") == 3 * TINY_MODEL["hidden_size"]  # a point per unit and gate
    picked = chargen("neurons", "-c", run, "--text", "All:", "--cells", "3,17")
    assert picked.exit_code == 0 and "cell 3 " in picked.stdout and "cell 17 " in picked.stdout
    assert chargen("neurons", "-c", run, "--text", "All:", "--cells", "99").exit_code == 1


def test_a_unit_that_is_the_quote_feature_is_found_with_correlation_one():
    text = 'ab "cd" e "f" gh'
    features = text_features(text)
    values = np.random.default_rng(0).normal(size=(len(text), 4))
    values[:, 2] = features["inside quotes"] * 2 - 1
    r = correlations(values, features)
    assert np.argmax(np.abs(r["inside quotes"])) == 2 and r["inside quotes"][2] == pytest.approx(1.0)
    assert features["bracket depth"].max() == 0 and features["start of a word"].sum() == 5


def test_gates_are_for_lstms(tmp_path, corpus_file):
    cfg = TrainConfig(batch_size=4, seq_len=16, steps=4, eval_every=4)
    list(new_trainer(RunRequest([str(corpus_file)], {"cell": "gru", "hidden_size": 8}, cfg, tmp_path / "gru")).run())
    result = chargen("neurons", "-c", tmp_path / "gru", "--text", "All:", "--gates")
    assert result.exit_code == 1 and "--gates is for LSTM models" in result.stderr


def test_plot_draws_several_runs_and_skips_torn_lines(trained_run, tmp_path):
    run = trained_run.copy_to(tmp_path)
    other = tmp_path / "checkpoints" / "copy"
    other.mkdir()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (other / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 9, "train_lo')
    (other / "best.pt").write_bytes((run / "best.pt").read_bytes())
    result = chargen("plot", "<b>&run", "copy", "--checkpoint-dir", tmp_path / "checkpoints", "--x", "chars",
                     env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.stdout and "<b>&run val" in result.stdout and "copy train" in result.stdout
    assert "copy: skipped 1 unreadable line(s) of metrics.jsonl" in result.stderr


def test_plot_errors_are_one_line(trained_run, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "metrics.jsonl").write_text("")
    (tmp_path / "empty" / "latest.pt").write_bytes(b"x")
    for args, message in ((["nosuchrun"], "no run 'nosuchrun'"), ([tmp_path / "empty"], "has no evaluation records"),
                          ([tmp_path], "not a chargen run")):
        result = chargen("plot", *args, "--checkpoint-dir", trained_run.path.parent)
        assert result.exit_code == 1 and message in result.stderr and result.stderr.count("\n") == 1


def test_plot_writes_an_image_with_matplotlib_or_says_how_to_get_it(trained_run, tmp_path, monkeypatch):
    run = trained_run.path
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    for suffix, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml")):
        out = tmp_path / f"loss{suffix}"
        assert chargen("plot", run, "--out", out).exit_code == 0
        assert out.read_bytes().startswith(magic)
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # as if not installed
    missing = chargen("plot", run, "--out", tmp_path / "x.png")
    assert missing.exit_code == 1 and "pip install 'chargen[plot]'" in missing.stderr


def test_report_holds_every_section_and_no_markup_from_the_corpus_or_run_name(trained_run, tmp_path):
    out = tmp_path / "report.html"
    result = chargen("report", "<b>&run", "--checkpoint-dir", trained_run.path.parent, "-o", out)
    assert result.exit_code == 0, result.output
    html = out.read_text()
    for section in ("facts", "curves", "samples", "novelty", "surprise", "neurons"):
        assert f'<section id="{section}">' in html
    # What a person opens it for comes first: the curves and a sample, then the facts table.
    assert html.index('<section id="curves">') < html.index('<section id="samples">') < html.index('<section id="facts">')
    assert "best validation loss" in html and "weights) trained on" in html
    no_markup_leaks(html)
    assert "chargen run &lt;b&gt;&amp;run" in html and "<b>&run" not in html
    assert "<polyline" in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")  # no network
