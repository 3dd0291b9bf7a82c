"""`chargen runs`: one line per run folder, the most recently written first, read without torch."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import click

from chargen.cli import checkpoint_dir_option, cli, json_option


@cli.command("runs", short_help="List the runs: model, corpus, steps, best bpc, state.")
@checkpoint_dir_option
@json_option(help="Print a JSON list with one record per run instead.")
def list_runs(checkpoint_dir, as_json):
    """List the runs under --checkpoint-dir, the most recently written first.

    One line per run: its name, cell and size, corpus, the step of its last evaluation, its best
    validation bits per character, when it last wrote a file (local time), and its state: training (a
    live process holds its lock), interrupted (it can continue: chargen train --resume NAME) or
    finished. Any command takes a run by a unique start of its name: -c names finds names-20261203-101500.

    Examples:

    \b
      chargen runs
      chargen runs --checkpoint-dir elsewhere --json
    """
    from chargen.store.runs import list_runs

    found = list_runs(checkpoint_dir)
    if as_json:
        records = [{**asdict(run), "written": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(run.written))}
                   for run in found]
        click.echo(json.dumps(records, indent=2, ensure_ascii=False))
        return
    if not found:
        where = checkpoint_dir if checkpoint_dir.is_dir() else f"{checkpoint_dir} (it does not exist)"
        click.echo(f"no runs in {where}; train one with `chargen train`", err=True)
        return
    rows = [_columns(run) for run in found]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _columns(run) -> list[str]:
    model = f"{run.cell} {run.layers}x{run.hidden_size}" if run.cell else "?"
    corpus = (run.corpus[0] + (f" +{len(run.corpus) - 1}" if len(run.corpus) > 1 else "")) if run.corpus else "?"
    bpc = f"{run.best_val_bpc:.3f} bpc" if run.best_val_bpc is not None else "- bpc"
    written = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.written))
    return [run.name, model, corpus, f"{run.steps:,} steps", bpc, written, run.state]
