"""The command line: the `chargen` group, the error boundary and exit codes, and the options the
commands share. Each group of commands lives in a module of its own in this package.

Heavy modules (torch, numpy, the training loop) are imported inside the commands, so `chargen --help`
answers at once. Generated text goes to stdout; progress, notes and errors go to stderr.
Exit codes: 0 success, 1 a user-fixable error (one `Error: ...` line), 2 a bad option, 130 Ctrl-C.
The library never imports click: this package is the only place that does.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import click

from chargen import __version__
from chargen.config import DEFAULT_TEMPERATURE, check_temperature, check_top_k, check_top_p
from chargen.errors import ChargenError, PeerFailed

EXIT_INTERRUPTED = 130
ARGV_KEY = "chargen.argv"  # the words after `chargen`, as typed: --nproc passes them on to every process
# `chargen --help` lists the commands under these headings, in this order.
COMMAND_GROUPS = (
    ("Core commands", ("train", "sample", "repl", "eval", "info", "runs", "export", "serve")),
    ("Views", ("heatmap", "neurons", "gradflow", "plot", "novelty", "report")),
)


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

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands under their headings, each with its whole one-line summary (its short_help)."""
        listed = [name for _, names in COMMAND_GROUPS for name in names]
        others = [name for name in self.list_commands(ctx) if name not in listed]
        for title, names in (*COMMAND_GROUPS, ("Other commands", others)):
            rows = [(name, self.commands[name].get_short_help_str(limit=1000)) for name in names
                    if name in self.commands and not self.commands[name].hidden]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(aligned(rows, width=max(map(len, self.commands))))


class SectionedCommand(click.Command):
    """A command whose --help lists its options under headings: `sections` is ((title, (parameter
    names)), ...); an option in no section (--help) comes last, under "Other options"."""

    def __init__(self, *args, sections: tuple[tuple[str, tuple[str, ...]], ...] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sections = sections

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        records = {p.name: p.get_help_record(ctx) for p in self.get_params(ctx) if isinstance(p, click.Option)}
        records = {name: record for name, record in records.items() if record is not None}
        width = max(len(term) for term, _ in records.values())
        for title, names in (*self.sections, ("Other options", tuple(records))):
            rows = [records.pop(name) for name in names if name in records]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(aligned(rows, width))


def aligned(rows: list[tuple[str, str]], width: int) -> list[tuple[str, str]]:
    """Rows for HelpFormatter.write_dl padded so that every section's text starts in the same column
    (write_dl sizes the first column by the longest term of its own rows, up to 30)."""
    return [(term.ljust(min(width, 30)), text) for term, text in rows]


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


DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device(value: str) -> str:
    """A device name as chargen.model.device reads it (whether that device is there is for it to say)."""
    if not DEVICE.fullmatch(value):
        raise ChargenError(f"unknown device {value!r}; use auto, cpu, cuda, cuda:N or mps")
    return value


def checkpoint_option(f=None, *, multiple: bool = False):
    """-c/--checkpoint RUN|FILE; with `multiple`, repeatable (several runs)."""
    option = click.option(
        "-c", "--checkpoint", "checkpoints" if multiple else "checkpoint", metavar="RUN|FILE", multiple=multiple,
        help="A run folder, a run name under --checkpoint-dir (or the start of one, when only one run starts "
             "so), or a checkpoint file" + ("; repeat for several runs. Default: the most recent run."
                                             if multiple else ". Default: the best checkpoint of the most recent run."),
    )
    return option if f is None else option(f)


def checkpoint_dir_option(f):
    return click.option(
        "--checkpoint-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("checkpoints"),
        show_default=True, help="Where runs live.",
    )(f)


class AliasedOption(click.Option):
    """An option whose older names (`aliases`) still work but are left out of --help: one name per idea."""

    def __init__(self, *args, aliases: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.aliases = set(aliases)

    def get_help_record(self, ctx: click.Context):
        shown, self.opts = self.opts, [o for o in self.opts if o not in self.aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def output_option(help: str, *aliases: str, default: Path | None = None):
    """-o/--output FILE, the one name for every file a command writes; `aliases` are older names of it."""
    return click.option("-o", "--output", *aliases, "output", type=click.Path(path_type=Path, dir_okay=False),
                        metavar="FILE", default=default, show_default=default is not None, help=help,
                        cls=AliasedOption, aliases=aliases)


def json_option(f=None, *, help: str = "Print the record as one JSON object instead."):
    option = click.option("--json", "as_json", is_flag=True, help=help)
    return option if f is None else option(f)


def device_option(help: str):
    return click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:N]|mps",
                        callback=checked(check_device), help=help)


def temperature_option(f):
    return click.option("-t", "--temperature", "--temp", "temperature", cls=AliasedOption, aliases=("--temp",),
                        type=float, default=DEFAULT_TEMPERATURE,
                        show_default=True, callback=checked(check_temperature),
                        help="Sampling temperature: below 1 safer, above 1 wilder; 0 is greedy (argmax).")(f)


def seed_option(default: int | None = None):
    help = "Random seed: the same seed and checkpoint give the same text" + ("." if default is not None else
                                                                           " (default: a new one each time).")
    return click.option("--seed", type=int, default=default, show_default=default is not None, help=help)


def sampling_options(f):
    options = [
        temperature_option,
        click.option("--top-k", type=int, default=None, callback=checked(check_top_k),
                     help="Sample only among the K most likely characters."),
        click.option("--top-p", type=float, default=None, callback=checked(check_top_p),
                     help="Nucleus sampling: the smallest set of characters with probability >= P."),
        seed_option(),
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
      chargen sample -t 0.8        stream text from the most recent run
      chargen repl                 type a prefix, watch the model continue it
      chargen runs                 every run: model, corpus, steps, best loss, state

    Every command's --help ends with examples; docs/cli.md has them all.
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
from chargen.cli import export, generate, inspect, judge, runs, serve, train, views  # noqa: E402,F401
