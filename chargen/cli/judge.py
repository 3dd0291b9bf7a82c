"""The views of a run as a whole: how training went (plot), how much of what it writes is copied
(novelty), and the one-page report."""

from __future__ import annotations

from pathlib import Path

import click

from chargen.cli import (AliasedOption, checkpoint_dir_option, checkpoint_option, cli, json_option, output_option,
                         seed_option, temperature_option)
from chargen.cli.views import stdout_console, write_page


@cli.command(short_help="Chart the training and validation loss of one or more runs.")
@click.argument("run_names", metavar="[RUN]...", nargs=-1)
@checkpoint_option(multiple=True)
@checkpoint_dir_option
@click.option("--x", "x_axis", type=click.Choice(["step", "time", "chars"]), default="step", show_default=True,
              help="What the x axis counts: optimizer steps, training seconds, or characters read.")
@click.option("--bits", is_flag=True, help="Bits per character instead of nats.")
@output_option("Write the chart to a .png or .svg file (needs pip install 'chargen[plot]').", "--out")
def plot(run_names, checkpoints, checkpoint_dir, x_axis, bits, output):
    """Training and validation loss of one or more runs (default: the most recent) on one chart.

    The runs are RUN arguments or -c options, in any mix; each run's best validation loss goes to
    stderr.

    Examples:

    \b
      chargen plot                                  the most recent run, in the terminal
      chargen plot -c names -c shakespeare --x time --bits
      chargen plot -o loss.png
    """
    from chargen.store import runs
    from chargen import units

    names = [*run_names, *checkpoints]
    folders = [runs.find_run(n, checkpoint_dir) for n in names] or [runs.latest_run(checkpoint_dir)]
    curves, notes = [], []
    for folder in folders:
        records, skipped = runs.read_metrics(folder)
        curves.append((folder.name, records))
        if skipped:
            notes.append(f"{folder.name}: skipped {skipped} unreadable line(s) of metrics.jsonl")
        best = min((r["val_loss"] for r in records if r.get("val_loss") is not None), default=None)
        if best is not None:
            notes.append(f"{folder.name}: best val {best:.4f} nats/char ({units.bits(best):.3f} bpc) "
                         f"after {records[-1]['step']:,} steps")
    if output is not None:
        from chargen.views.figures import curves_figure

        curves_figure(curves, x_axis, bits, output)
        click.echo(f"wrote {output}", err=True)
    else:
        from chargen.views.terminal import show_curves

        show_curves(stdout_console(), curves, x_axis, bits)
    for note in notes:
        click.echo(note, err=True)


@cli.command(short_help="Measure how much of the generated text is copied from the corpus.")
@checkpoint_option
@checkpoint_dir_option
@click.option("-n", "--num-samples", "--samples", "count", cls=AliasedOption, aliases=("--samples",),
              type=click.IntRange(min=1), default=10, show_default=True,
              metavar="N", help="Samples to generate and look up in the training text.")
@click.option("-l", "--length", type=click.IntRange(min=20), default=500, show_default=True, metavar="N",
              help="Characters per sample (line mode: the longest an item may be).")
@temperature_option
@seed_option(default=0)
@json_option
def novelty(checkpoint, checkpoint_dir, count, length, temperature, seed, as_json):
    """How much of what the model writes is copied from its training text.

    For n = 10, 20, 40 and 80 characters, the share of generated n-grams found verbatim in the
    training text, and the longest copied passage with where it occurs; the same figures for the
    validation text show what a model that copies nothing reaches. A line-mode model's items are
    counted as in the training set, in the validation set, or new. The training text is indexed once
    (cached beside the corpus cache).

    Examples:

    \b
      chargen novelty
      chargen novelty -c names -n 200 -t 0.8 --json
    """
    import json

    from chargen.store import runs
    from chargen.store.weights import read_model
    from chargen.views.novelty import measure

    found = measure(read_model(runs.find_model(checkpoint, checkpoint_dir)), count, length, temperature, seed)
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

        show_copying(stdout_console(), found.generated, found.validation, note)


@cli.command(short_help="Write one self-contained HTML page about a run.")
@click.argument("run_name", metavar="[RUN]", required=False)
@checkpoint_option
@checkpoint_dir_option
@output_option("The HTML file to write.", default=Path("report.html"))
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed of the samples and of the novelty check.")
def report(run_name, checkpoint, checkpoint_dir, output, seed):
    """One self-contained HTML page about a run (default: the most recent): its configuration and
    corpus, loss curves, samples at three temperatures, how much it copies, and what it finds
    surprising in held-out text.

    The run is RUN or -c, not both.

    Examples:

    \b
      chargen report                                report.html on the most recent run
      chargen report -c names -o names.html
    """
    from chargen.store import runs
    from chargen.views.report import run_report

    if run_name is not None and checkpoint is not None:
        raise click.UsageError("give the run once: as RUN or with -c/--checkpoint")
    folder = runs.find_run(run_name or checkpoint, checkpoint_dir)
    write_page(run_report(folder, seed), output)
