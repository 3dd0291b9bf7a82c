"""The CLI reference, docs/cli.md: every command's --help at one fixed width, whatever the terminal.

    python -m chargen.cli.reference > docs/cli.md

tests/test_help.py fails when docs/cli.md is not what this writes.
"""

from __future__ import annotations

import click

from chargen.cli import COMMAND_GROUPS, cli

WIDTH = 100  # the help's width in the reference, fixed so that the file is the same from any terminal
REGENERATE = "python -m chargen.cli.reference > docs/cli.md"


def command_help(command: click.Command, name: str, parent: click.Context | None = None) -> str:
    """`chargen [NAME] --help` as it prints on a terminal WIDTH columns wide."""
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    return command.get_help(click.Context(command, info_name=name, parent=parent, **settings))


def reference() -> str:
    """docs/cli.md: `chargen --help`, then each command's help in the order `chargen --help` lists them."""
    root = click.Context(cli, info_name="chargen", **{**cli.context_settings, "terminal_width": WIDTH,
                                                       "max_content_width": WIDTH})
    listed = [name for _, names in COMMAND_GROUPS for name in names]
    names = listed + sorted(set(cli.commands) - set(listed))
    parts = ["# Command-line reference\n",
             f"Generated from each command's `--help` by `{REGENERATE}`; `tests/test_help.py` fails when it is stale.\n",
             "## chargen\n", fence(command_help(cli, "chargen"))]
    for name in names:
        parts += [f"## chargen {name}\n", fence(command_help(cli.commands[name], name, root))]
    return "\n".join(parts)


def fence(text: str) -> str:
    return f"```\n{text.rstrip()}\n```\n"


if __name__ == "__main__":
    click.echo(reference(), nl=False)
