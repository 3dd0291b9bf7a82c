"""The command line: the `chargen` group, the error boundary and exit codes, and the options the
commands share. Each group of commands lives in a module of its own in this package.

Heavy modules (torch, numpy, the training loop) are imported inside the commands, so `chargen --help`
answers at once. Generated text goes to stdout; progress, notes and errors go to stderr.
Exit codes: 0 success, 1 a user-fixable error (one `Error: ...` line), 2 a bad option, 130 Ctrl-C.
The library never imports click: this package is the only place that does.
"""

from __future__ import annotations

import os
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import click

from chargen import __version__
from chargen.config import check_temperature, check_top_k, check_top_p
from chargen.errors import ChargenError, PeerFailed

EXIT_INTERRUPTED = 130
ARGV_KEY = "chargen.argv"  # the words after `chargen`, as typed: --nproc passes them on to every process


class ChargenGroup(click.Group):
    """The error boundary: user errors become one line and exit 1, Ctrl-C exits 130, a closed pipe ends quietly."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGV_KEY] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except PeerFailed:
            raise click.exceptions.Exit(1) from None  # the main process printed the reason
        except ChargenError as e:
            rank = int(os.environ.get("RANK", "0"))
            raise click.ClickException(f"process {rank}: {e}" if rank else str(e)) from None
        except KeyboardInterrupt:
            click.echo("\nInterrupted.", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            # The reader (e.g. `| head`) has gone: point stdout at /dev/null so the final flush is silent too.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(0) from None


def default_of(cls, name: str):
    value = next(f.default for f in fields(cls) if f.name == name)
    return None if value is MISSING else value


def checked(check):
    """A click callback that runs one of config's validators: a bad value is a usage error (exit 2)."""

    def callback(ctx, param, value):
        if value is None:
            return value
        try:
            return check(value)
        except ChargenError as e:
            raise click.BadParameter(str(e)) from None

    return callback


def checkpoint_option(f):
    return click.option(
        "-c", "--checkpoint", metavar="RUN|FILE",
        help="A run folder, a run name under --checkpoint-dir, or a checkpoint file. "
             "Default: the best checkpoint of the most recent run.",
    )(f)


def checkpoint_dir_option(f):
    return click.option(
        "--checkpoint-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("checkpoints"),
        show_default=True, help="Where runs live.",
    )(f)


def sampling_options(f):
    options = [
        click.option("--temp", "--temperature", "temperature", type=float, default=1.0, show_default=True,
                     callback=checked(check_temperature), help="Sampling temperature; 0 is greedy (argmax)."),
        click.option("--top-k", type=int, default=None, callback=checked(check_top_k),
                     help="Sample only among the K most likely characters."),
        click.option("--top-p", type=float, default=None, callback=checked(check_top_p),
                     help="Nucleus sampling: the smallest set of characters with probability >= P."),
        click.option("--seed", type=int, default=None, help="Same seed and checkpoint give the same text."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group(cls=ChargenGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="chargen")
def cli() -> None:
    """Train character-level RNN language models on any text and sample from them.

    \b
      chargen train corpus.txt     train (on the bundled Shakespeare with no corpus)
      chargen sample --temp 0.8    stream text from the most recent run
      chargen repl                 type a prefix, watch the model continue it
    """


def write_stream(chars) -> None:
    """Write characters to stdout as they come: each one on a terminal, in small batches into a pipe."""
    out = sys.stdout
    interactive = out.isatty()
    pending = 0
    for ch in chars:
        out.write(ch)
        pending += 1
        if interactive or pending >= 256:
            out.flush()
            pending = 0
    out.flush()


def main() -> None:
    cli(prog_name="chargen")


# The commands register themselves on `cli` when their modules load.
from chargen.cli import generate, inspect, train, views  # noqa: E402,F401
