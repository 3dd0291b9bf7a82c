"""`chargen train --plan`: a new run's settings, the recipe measured on this machine, without training."""

from __future__ import annotations

import shlex
from dataclasses import fields

import click

from chargen.cli.display import encoding_progress
from chargen.config import flag
from chargen.train.request import MODEL_OPTIONS, RunRequest


def show_plan(request: RunRequest, corpus_named: bool, nproc: int, quiet: bool) -> None:
    """What `chargen train` with these options would do, on stdout: the text, the recipe and why, and the
    command that spells out every setting (to keep a recipe, or change one choice of it)."""
    from rich.console import Console

    from chargen.train import launch

    setup = launch.prepare(request, progress=encoding_progress(Console(stderr=True), quiet), world=nproc)
    cfg, model = setup.cfg, setup.model_config
    held_out = f"the last {cfg.val_fraction * 100:g}% held out for validation" if cfg.val_fraction else "no validation"
    click.echo(f"corpus: {len(setup.corpus):,} characters, {model.vocab_size:,} distinct, {held_out}")
    for note in setup.notes:
        click.echo(note)
    settings = {name: getattr(model, name) for name in MODEL_OPTIONS}
    settings.update((f.name, getattr(cfg, f.name)) for f in fields(cfg)
                    if getattr(cfg, f.name) is not None and f.name not in ("lines", "device"))
    if cfg.device != "auto":
        settings["device"] = cfg.device
    words = ["chargen", "train", *(request.corpus if corpus_named else [])]
    if nproc > 1:
        words += ["--nproc", str(nproc)]
    if request.init_from is not None:
        words += ["--init-from", str(request.init_from)]
    if cfg.lines:
        words.append("--lines")
    if request.encoding:
        words += ["--encoding", request.encoding]
    if request.max_vocab is not None:
        words += ["--max-vocab", str(request.max_vocab)]
    for name, value in settings.items():
        if isinstance(value, bool):
            words += [flag(name)] if value else []  # a flag, given or not
        else:
            words += [flag(name), f"{value:g}" if isinstance(value, float) else str(value)]
    click.echo(shlex.join(words))
