"""The views: what a model finds surprising (heatmap), what its cells track (neurons), how far gradients
reach (gradflow), how training went (plot), how much it copies (novelty), and the one-page report."""

from __future__ import annotations

from pathlib import Path

import click

from chargen.cli import checkpoint_dir_option, checkpoint_option, cli
from chargen.errors import ChargenError

DEFAULT_LIMIT = 3000  # characters of a text a view reads unless told otherwise


def _stdout():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _stderr():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def text_options(f):
    options = [
        click.argument("file", required=False, type=click.Path(path_type=Path)),
        click.option("--text", "typed", default=None, help="The text to look at, typed here instead of a FILE."),
        click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of FILE."),
        click.option("--limit", type=click.IntRange(min=1), default=DEFAULT_LIMIT, show_default=True,
                     help="Read at most this many characters."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _model_and_text(checkpoint, checkpoint_dir, file, typed, encoding, limit):
    """(path, checkpoint, the text to look at): FILE, --text, or else the start of the run's validation text."""
    from chargen.data.corpus import read_text
    from chargen.store import runs
    from chargen.store.checkpoint import load_checkpoint
    from chargen.views.novelty import validation_text

    if file is not None and typed is not None:
        raise ChargenError("give a FILE or --text, not both")
    path = runs.find_checkpoint(checkpoint, checkpoint_dir)
    checkpoint = load_checkpoint(path)
    if typed is not None:
        text = typed
    elif file is not None:
        text = read_text(file, encoding)
    else:
        val = validation_text(checkpoint)
        if not len(val):
            raise ChargenError("the run has no validation text to look at; give a FILE or --text")
        text = checkpoint.vocab.decode(val[:limit])
    return path, checkpoint, text[:limit]


def _write_page(html: str, out: Path) -> None:
    try:
        out.write_text(html, encoding="utf-8")
    except OSError as e:
        raise ChargenError(f"cannot write {out}: {e.strerror}") from None
    click.echo(f"wrote {out}", err=True)


@cli.command()
@checkpoint_option
@checkpoint_dir_option
@text_options
@click.option("--html", "html_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write a self-contained HTML page (hover a character for its probability).")
@click.option("--places", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many of the most surprising places to list.")
def heatmap(checkpoint, checkpoint_dir, file, typed, encoding, limit, html_out, places):
    """Colour each character of a text by how surprised the model is by it.

    Surprise is -log2 of the probability the model gave the character; per line and in total it is
    bits per character. Without FILE or --text: the start of the run's validation text.
    """
    from chargen.generate.sample import StepModel
    from chargen.views.page import page
    from chargen.views.sections import surprise_section
    from chargen.views.surprise import surprise
    from chargen.views.terminal import show_surprise

    path, saved, text = _model_and_text(checkpoint, checkpoint_dir, file, typed, encoding, limit)
    found = surprise(StepModel(saved.model_config, saved.weights), saved.vocab, text, items=saved.lines)
    show_surprise(_stdout(), found, places)
    if html_out:
        _write_page(page(f"Surprise: {path}", [surprise_section(found, places=places)]), html_out)


def _cell_list(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected cell numbers separated by commas, like 3,17, not {value!r}") from None


@cli.command()
@checkpoint_option
@checkpoint_dir_option
@text_options
@click.option("--html", "html_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write a self-contained HTML page with one row per cell.")
@click.option("--cells", callback=lambda ctx, p, v: _cell_list(v), help="Cells to show, e.g. 3,17 (default: chosen).")
@click.option("--layer", type=int, default=None, help="The layer to look at (default: the top one).")
@click.option("--count", type=click.IntRange(min=1), default=5, show_default=True,
              help="Cells chosen automatically: the ones that best track properties of the text.")
@click.option("--gates", is_flag=True, help="LSTM: also chart how often each gate is saturated.")
def neurons(checkpoint, checkpoint_dir, file, typed, encoding, limit, html_out, cells, layer, count, gates):
    """Karpathy's view of single cells: the text coloured by a cell's activation at each character.

    Cells are chosen as those whose activation best correlates with simple properties of the text
    (inside quotes, bracket depth, position in the line, start of a word, after a newline, and
    indentation for code), each listed with its correlation; --cells picks them by hand.
    """
    from chargen.model.equations import Network
    from chargen.views.neurons import activations, gate_saturation, trackers
    from chargen.views.page import page
    from chargen.views.sections import gates_section, mean_activation_rows, neurons_section, tracker_label
    from chargen.views.terminal import show_gates, show_neurons

    path, saved, text = _model_and_text(checkpoint, checkpoint_dir, file, typed, encoding, limit)
    config = saved.model_config
    acts = activations(Network(config, saved.weights), saved.vocab, text, layer, saved.lines)
    if cells:
        if bad := [c for c in cells if not 0 <= c < config.hidden_size]:
            raise ChargenError(f"--cells: the layer has cells 0 to {config.hidden_size - 1}, not {bad[0]}")
        rows = mean_activation_rows(acts, cells)
    else:
        rows = [(t.cell, tracker_label(t, acts.layer)) for t in trackers(acts)[:count]]
    saturation = gate_saturation(acts) if gates else None
    console = _stdout()
    show_neurons(console, acts, rows)
    if saturation:
        show_gates(console, saturation)
    if html_out:
        sections = [neurons_section(acts, rows)] + ([gates_section(saturation)] if saturation else [])
        _write_page(page(f"Cells: {path}", sections), html_out)


@cli.command()
@click.argument("corpus", nargs=-1, type=click.Path(path_type=str))
@click.option("--cells", default="rnn-tanh,rnn-relu:identity,lstm,gru", show_default=True,
              help="Cells to compare; cell:init picks how one starts (rnn-relu:identity is the IRNN).")
@click.option("--steps", type=click.IntRange(min=1), default=500, show_default=True,
              help="Training steps between the two measurements.")
@click.option("--horizon", type=click.IntRange(min=1), default=100, show_default=True,
              help="K: how many steps back to follow the gradient.")
@click.option("--hidden-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--layers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Also write the chart: .png or .svg.")
@click.option("--json", "as_json", is_flag=True, help="Print the measurements as JSON instead.")
def gradflow(corpus, cells, steps, horizon, hidden_size, layers, seed, out, as_json):
    """Vanishing gradients, measured: how much of the gradient of one prediction reaches the state k
    steps earlier, for each cell, at initialisation and after training (same size, text and seed).

    Trains each cell briefly on CORPUS (default: the bundled Shakespeare). Reach: the k at which the
    gradient has fallen to 1% of its size at k = 0.
    """
    from chargen.data.corpus import bundled_corpus
    from chargen.views.figures import check_output, gradflow_figure
    from chargen.views.gradflow import flows_json, gradient_flow
    from chargen.views.terminal import show_gradflow

    if out is not None:
        check_output(out)
    names = [c.strip() for c in cells.split(",") if c.strip()]
    errors = _stderr()
    flows = gradient_flow(list(corpus) or [str(bundled_corpus())], names, steps, horizon,
                          {"layers": layers, "hidden_size": hidden_size, "embed_dim": 32},
                          {"batch_size": 32, "seq_len": 64, "lr": 2e-3, "warmup_steps": 20, "seed": seed},
                          progress=lambda cell, stage: errors.print(f"{cell}: {stage}"))
    if as_json:
        click.echo(flows_json(flows))
    else:
        show_gradflow(_stdout(), flows)
    if out is not None:
        gradflow_figure(flows, out)
        click.echo(f"wrote {out}", err=True)


@cli.command()
@click.argument("run_names", metavar="[RUN]...", nargs=-1)
@checkpoint_dir_option
@click.option("--x", "x_axis", type=click.Choice(["step", "time", "chars"]), default="step", show_default=True,
              help="What the x axis counts: optimizer steps, training seconds, or characters read.")
@click.option("--bits", is_flag=True, help="Bits per character instead of nats.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the chart to a .png or .svg file (needs pip install 'chargen[plot]').")
def plot(run_names, checkpoint_dir, x_axis, bits, out):
    """Training and validation loss of one or more runs (default: the most recent) on one chart."""
    from chargen.store import runs
    from chargen.units import LN2

    folders = [runs.find_run(n, checkpoint_dir) for n in run_names] or [runs.latest_run(checkpoint_dir)]
    curves, notes = [], []
    for folder in folders:
        records, skipped = runs.read_metrics(folder)
        curves.append((folder.name, records))
        if skipped:
            notes.append(f"{folder.name}: skipped {skipped} unreadable line(s) of metrics.jsonl")
        best = min((r["val_loss"] for r in records if r.get("val_loss") is not None), default=None)
        if best is not None:
            notes.append(f"{folder.name}: best val {best:.4f} nats/char ({best / LN2:.3f} bpc) "
                         f"after {records[-1]['step']:,} steps")
    if out is not None:
        from chargen.views.figures import curves_figure

        curves_figure(curves, x_axis, bits, out)
        click.echo(f"wrote {out}", err=True)
    else:
        from chargen.views.terminal import show_curves

        show_curves(_stdout(), curves, x_axis, bits)
    for note in notes:
        click.echo(note, err=True)


@cli.command()
@checkpoint_option
@checkpoint_dir_option
@click.option("--samples", "count", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--length", type=click.IntRange(min=20), default=500, show_default=True,
              help="Characters per sample (line mode: the longest an item may be).")
@click.option("--temp", "temperature", type=float, default=0.8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def novelty(checkpoint, checkpoint_dir, count, length, temperature, seed, as_json):
    """How much of what the model writes is copied from its training text.

    For n = 10, 20, 40 and 80 characters, the share of generated n-grams found verbatim in the
    training text, and the longest copied passage with where it occurs; the same figures for the
    validation text show what a model that copies nothing reaches. A line-mode model's items are
    counted as in the training set, in the validation set, or new. The training text is indexed once
    (cached beside the corpus cache).
    """
    import json

    from chargen.config import check_temperature
    from chargen.store import runs
    from chargen.store.checkpoint import load_checkpoint
    from chargen.views.novelty import measure

    check_temperature(temperature)
    found = measure(load_checkpoint(runs.find_checkpoint(checkpoint, checkpoint_dir)), count, length, temperature, seed)
    note = f"{count} samples of up to {length:,} characters at temperature {temperature:g}, seed {seed}."
    if as_json:
        def shares(c):
            return None if c is None else {"shares": c.shares, "longest": c.longest.__dict__ if c.longest else None}

        click.echo(json.dumps({"samples": count, "length": length, "temperature": temperature, "items": found.items,
                               "generated": shares(found.generated), "validation": shares(found.validation)},
                              indent=2, ensure_ascii=False))
    elif found.items is not None:
        t = found.items
        click.echo(f"{sum(t.values())} items: {t['train']} in the training set, {t['val']} in the validation set, "
                   f"{t['new']} new. {note}")
    else:
        from chargen.views.terminal import show_copying

        show_copying(_stdout(), found.generated, found.validation, note)


@cli.command()
@click.argument("run_name", metavar="[RUN]", required=False)
@checkpoint_dir_option
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=Path("report.html"),
              show_default=True, help="The HTML file to write.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the samples.")
def report(run_name, checkpoint_dir, output, seed):
    """One self-contained HTML page about a run (default: the most recent): its configuration and
    corpus, loss curves, samples at three temperatures, how much it copies, and what it finds
    surprising in held-out text."""
    from chargen.store import runs
    from chargen.views.report import run_report

    folder = runs.find_run(run_name, checkpoint_dir)
    _write_page(run_report(folder, seed), output)
