"""`chargen train --nproc N`: what the processes of a job are told, and how the job's end becomes an exit."""

from __future__ import annotations

import os

import click

from chargen.cli import EXIT_INTERRUPTED
from chargen.errors import ChargenError


def train_command(world: int) -> str:
    """How the user started this run's processes, to repeat it."""
    if world == 1:
        return "chargen train"
    from chargen.train.distributed import NPROC_ENV

    if os.environ.get(NPROC_ENV):
        return f"chargen train --nproc {world}"
    return f"torchrun --nproc-per-node {world} -m chargen train"


def without_option(argv: list[str], option: str) -> list[str]:
    """`argv` less `option VALUE` / `option=VALUE` (the rest goes to every process as it was typed)."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == option:
            skip = True
        elif not word.startswith(option + "="):
            kept.append(word)
    return kept


def exit_for(outcome) -> None:
    """The exit of a job of several processes, from how its processes ended."""
    if outcome.interrupted:
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
    if outcome.exit_code == 1:  # a user error, which the processes have printed
        raise click.exceptions.Exit(1)
    if outcome.failed_rank is not None:
        # A crash or a kill: this line says which process ended the job.
        code = outcome.exit_code
        how = f"was killed by signal {-code}" if code < 0 else f"ended with exit code {code}"
        raise ChargenError(f"process {outcome.failed_rank} of the job {how} and the others were stopped; "
                           "the last saved checkpoint is intact, resume with --resume")
    raise click.exceptions.Exit(0)
