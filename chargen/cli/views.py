"""The views of a model: what it finds surprising (heatmap), what its cells track (neurons), and how far
gradients reach in each kind of cell (gradflow); the views of a whole run are in chargen.cli.judge."""

from __future__ import annotations

from pathlib import Path

import click

from chargen.cli import checkpoint_dir_option, checkpoint_option, cli, json_option, output_option
from chargen.errors import ChargenError

DEFAULT_LIMIT = 3000  # characters of a text a view reads unless told otherwise


def stdout_console():
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
    from chargen.store.weights import read_model
    from chargen.views.novelty import validation_text

    if file is not None and typed is not None:
        raise ChargenError("give a FILE or --text, not both")
    path = runs.find_model(checkpoint, checkpoint_dir)
    checkpoint = read_model(path)
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


def write_page(html: str, out: Path) -> None:
    try:
        out.write_text(html, encoding="utf-8")
    except OSError as e:
        raise ChargenError(f"cannot write {out}: {e.strerror}") from None
    click.echo(f"wrote {out}", err=True)


@cli.command(short_help="Colour a text by how surprised the model is by each character.")
@checkpoint_option
@checkpoint_dir_option
@text_options
@output_option("Also write a self-contained HTML page (hover a character for its probability).", "--html")
@click.option("--places", type=click.IntRange(min=1), default=10, show_default=True, metavar="N",
              help="How many of the most surprising places to list.")
def heatmap(checkpoint, checkpoint_dir, file, typed, encoding, limit, output, places):
    """Colour each character of a text by how surprised the model is by it.

    Surprise is -log2 of the probability the model gave the character; per line and in total it is
    bits per character. Without FILE or --text: the start of the run's validation text.

    Examples:

    \b
      chargen heatmap                               the start of the run's validation text
      chargen heatmap --text "To be, or not to be" -o surprise.html
      chargen heatmap -c names some-names.txt --limit 500
    """
    from chargen.generate.sample import StepModel
    from chargen.views.page import page
    from chargen.views.sections import surprise_section
    from chargen.views.surprise import surprise
    from chargen.views.terminal import show_surprise

    path, saved, text = _model_and_text(checkpoint, checkpoint_dir, file, typed, encoding, limit)
    found = surprise(StepModel(saved.model_config, saved.weights), saved.vocab, text, items=saved.lines)
    show_surprise(stdout_console(), found, places)
    if output:
        write_page(page(f"Surprise: {path}", [surprise_section(found, places=places)]), output)


def _cell_list(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected cell numbers separated by commas, like 3,17, not {value!r}") from None


@cli.command(short_help="Colour a text by single cells' activations: what each tracks.")
@checkpoint_option
@checkpoint_dir_option
@text_options
@output_option("Also write a self-contained HTML page with one row per cell.", "--html")
@click.option("--cells", callback=lambda ctx, p, v: _cell_list(v), metavar="I,J,...",
              help="Cells to show, e.g. 3,17 (default: chosen).")
@click.option("--layer", type=int, default=None, help="The layer to look at, from 0 (default: the top one).")
@click.option("--count", type=click.IntRange(min=1), default=5, show_default=True, metavar="N",
              help="Cells chosen automatically: the ones that best track properties of the text.")
@click.option("--gates", is_flag=True, help="LSTM: also chart how often each gate is saturated.")
def neurons(checkpoint, checkpoint_dir, file, typed, encoding, limit, output, cells, layer, count, gates):
    """Karpathy's view of single cells: the text coloured by a cell's activation at each character.

    Cells are chosen as those whose activation best correlates with simple properties of the text
    (inside quotes, bracket depth, position in the line, start of a word, after a newline, and
    indentation for code), each listed with its correlation; --cells picks them by hand.

    Examples:

    \b
      chargen neurons -o cells.html --gates         cells of the latest run, and its LSTM gates
      chargen neurons --text 'print("(a, b)")' --count 3
      chargen neurons --cells 3,17 --layer 0
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
    console = stdout_console()
    show_neurons(console, acts, rows)
    if saturation:
        show_gates(console, saturation)
    if output:
        sections = [neurons_section(acts, rows)] + ([gates_section(saturation)] if saturation else [])
        write_page(page(f"Cells: {path}", sections), output)


@cli.command(short_help="Measure how far back gradients reach in each kind of cell.")
@click.argument("corpus", nargs=-1, type=click.Path(path_type=str))
@click.option("--cells", default="rnn-tanh,rnn-relu:identity,lstm,gru", show_default=True,
              help="Cells to compare; cell:init picks how one starts (rnn-relu:identity is the IRNN).")
@click.option("--steps", type=click.IntRange(min=1), default=500, show_default=True, metavar="N",
              help="Training steps between the two measurements.")
@click.option("--horizon", type=click.IntRange(min=1), default=100, show_default=True, metavar="K",
              help="K: how many steps back to follow the gradient.")
@click.option("--hidden-size", type=click.IntRange(min=1), default=128, show_default=True, metavar="H",
              help="Width of each cell's recurrent layers.")
@click.option("--layers", type=click.IntRange(min=1), default=1, show_default=True, metavar="L",
              help="Stacked recurrent layers of each cell.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Random seed of the weights and the data order, the same for every cell.")
@output_option("Also write the chart: a self-contained .html page, or .png or .svg (needs pip install "
               "'chargen[plot]').", "--out")
@json_option(help="Print the measurements as JSON instead.")
def gradflow(corpus, cells, steps, horizon, hidden_size, layers, seed, output, as_json):
    """Vanishing gradients, measured: how much of the gradient of one prediction reaches the state k
    steps earlier, for each cell, at initialisation and after training (same size, text and seed).

    Trains each cell briefly on CORPUS (default: the bundled Shakespeare). Reach: the k at which the
    gradient has fallen to 1% of its size at k = 0.

    Examples:

    \b
      chargen gradflow -o gradflow.png
      chargen gradflow my.txt --cells lstm,gru --steps 200 --json
    """
    from chargen.data.corpus import bundled_corpus
    from chargen.views.figures import check_output, gradflow_figure
    from chargen.views.gradflow import flows_json, gradient_flow
    from chargen.views.terminal import show_gradflow

    page_out = output is not None and output.suffix.lower() == ".html"
    if output is not None and not page_out:
        check_output(output)
    names = [c.strip() for c in cells.split(",") if c.strip()]
    errors = _stderr()
    flows = gradient_flow(list(corpus) or [str(bundled_corpus())], names, steps, horizon,
                          {"layers": layers, "hidden_size": hidden_size, "embed_dim": 32},
                          {"batch_size": 32, "seq_len": 64, "lr": 2e-3, "warmup_steps": 20, "seed": seed,
                           "eval_chars": 8192},  # the one evaluation is for the clipping record, not the flows
                          progress=lambda cell, stage: errors.print(f"{cell}: {stage}"))
    if as_json:
        click.echo(flows_json(flows))
    else:
        show_gradflow(stdout_console(), flows)
    if page_out:
        from chargen.views.page import page
        from chargen.views.sections import gradflow_section

        write_page(page("Gradient flow", [gradflow_section(flows)]), output)
    elif output is not None:
        gradflow_figure(flows, output)
        click.echo(f"wrote {output}", err=True)
