"""The command line as a person meets it: every command and option explains itself, `chargen --help`
lists whole summaries under headings, one idea has one option name in every command (older names still
work), a bad value is a usage error naming its option, and docs/cli.md is what --help says."""

import inspect
import re
from pathlib import Path

import click
import pytest

from chargen.cli import COMMAND_GROUPS, DEFAULT_TEMPERATURE, cli
from chargen.cli.reference import REGENERATE, reference

from conftest import chargen

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
COMMANDS = sorted(cli.commands)
OPTIONS = [pytest.param(command, option, id=f"{name} {option.opts[-1]}")
           for name, command in [("chargen", cli), *sorted(cli.commands.items())]
           for option in command.params if isinstance(option, click.Option)]


def parsed(name: str, *args: str) -> dict:
    """The values `chargen NAME ARGS` hands its command, without running it."""
    command = cli.commands[name]
    return command.make_context(name, list(args), parent=click.Context(cli, info_name="chargen")).params


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_a_summary_a_description_and_examples(name):
    command = cli.commands[name]
    assert command.short_help and command.help, name
    assert "…" not in command.short_help and "..." not in command.short_help
    examples = inspect.cleandoc(command.help).split("Examples:\n\n\b\n", 1)
    assert len(examples) == 2, f"chargen {name} --help does not end with an Examples: block"
    lines = [line for line in examples[1].splitlines() if line.strip()]
    assert 2 <= len(lines) <= 3 and all(line.strip().startswith(("chargen ", "printf ")) for line in lines), lines


@pytest.mark.parametrize("command, option", OPTIONS)
def test_every_option_has_help_text(command, option):
    assert option.help and option.help.strip(), f"{option.opts} has no help text"


def test_the_main_help_lists_whole_summaries_under_core_commands_and_views():
    result = chargen("--help", terminal_width=80)
    assert result.exit_code == 0
    assert [title for title, _ in COMMAND_GROUPS] == ["Core commands", "Views"]
    lines = result.stdout.splitlines()
    at = lines.index("Core commands:")
    for title, names in COMMAND_GROUPS:
        assert lines[at] == f"{title}:"
        for i, name in enumerate(names, start=at + 1):  # each summary whole, on its own one line
            assert lines[i] == f"  {name:<8}  {cli.commands[name].short_help}", lines[i]
        at += len(names) + 2
    assert set(cli.commands) == {name for _, names in COMMAND_GROUPS for name in names}


def test_train_help_groups_its_options_and_says_what_the_time_budget_chooses():
    command = cli.commands["train"]
    text = chargen("train", "--help", terminal_width=100).stdout
    titles = [title for title, _ in command.sections]
    assert [t.split()[0] for t in titles] == ["Model", "Regularisation", "Training", "Length", "Evaluation", "Output", "Process"]
    assert all(f"{t}:" in text for t in titles)
    assert [text.index(f"{t}:") for t in titles] == sorted(text.index(f"{t}:") for t in titles)
    in_sections = {name for _, names in command.sections for name in names}
    ctx = click.Context(command)
    options = {p.name for p in command.get_params(ctx) if isinstance(p, click.Option)}
    assert options - in_sections == {command.get_help_option(ctx).name} and in_sections <= options
    assert "--hidden-size INTEGER           Width of each recurrent layer. [default: 256; a time budget" in text
    assert "--seq-len INTEGER               Characters per window (truncated BPTT length). [default: 64]\n" in text


def test_docs_cli_md_is_the_help_of_every_command():
    assert REFERENCE.read_text(encoding="utf-8") == reference(), f"docs/cli.md is stale; regenerate it: {REGENERATE}"


def test_the_reference_does_not_depend_on_the_terminal(monkeypatch):
    wide = reference()
    monkeypatch.setenv("COLUMNS", "40")
    assert reference() == wide


@pytest.mark.parametrize("name, args, key, value", [
    ("sample", ["-n", "3"], "num_samples", 3),
    ("sample", ["--num-samples", "3"], "num_samples", 3),
    ("sample", ["-l", "30"], "length", 30),
    ("sample", ["-t", "0.5"], "temperature", 0.5),
    ("sample", ["--temp", "0.5"], "temperature", 0.5),
    ("repl", ["-l", "30"], "length", 30),
    ("repl", ["--temperature", "0.5"], "temperature", 0.5),
    ("novelty", ["-n", "3"], "count", 3),
    ("novelty", ["--samples", "3"], "count", 3),  # the old name
    ("novelty", ["-t", "0.5"], "temperature", 0.5),
    ("heatmap", ["-o", "a.html"], "output", Path("a.html")),
    ("heatmap", ["--html", "a.html"], "output", Path("a.html")),
    ("neurons", ["--output", "a.html"], "output", Path("a.html")),
    ("neurons", ["--html", "a.html"], "output", Path("a.html")),
    ("plot", ["-o", "a.png"], "output", Path("a.png")),
    ("plot", ["--out", "a.png"], "output", Path("a.png")),
    ("gradflow", ["-o", "a.png"], "output", Path("a.png")),
    ("gradflow", ["--out", "a.png"], "output", Path("a.png")),
    ("report", ["-o", "a.html"], "output", Path("a.html")),
    ("plot", ["-c", "a", "--checkpoint", "b"], "checkpoints", ("a", "b")),
    ("plot", ["a", "b"], "run_names", ("a", "b")),  # the old positional runs
    ("report", ["-c", "a"], "checkpoint", "a"),
    ("report", ["a"], "run_name", "a"),
    ("eval", ["--device", "cuda:1", "x.txt"], "device", "cuda:1"),
    ("sample", ["--device", "mps"], "device", "mps"),
    ("repl", ["--device", "cuda"], "device", "cuda"),
    ("train", ["--device", "cuda:0"], "device", "cuda:0"),
])
def test_one_name_per_idea_and_the_old_names_still_work(name, args, key, value):
    assert parsed(name, *args)[key] == value


def test_every_command_that_samples_has_the_same_temperature_default():
    defaults = {name: parsed(name)["temperature"] for name in ("sample", "repl", "novelty")}
    assert set(defaults.values()) == {DEFAULT_TEMPERATURE}


@pytest.mark.parametrize("args, option", [
    (["train", "--lr", "-1"], "--lr"),
    (["train", "--lr", "nan"], "--lr"),
    (["train", "--steps", "0"], "--steps"),
    (["train", "--epochs", "-1"], "--epochs"),
    (["train", "--minutes", "0"], "--minutes"),
    (["train", "--dropout", "1.5"], "--dropout"),
    (["train", "--val-fraction", "1"], "--val-fraction"),
    (["train", "--eval-every", "0"], "--eval-every"),
    (["train", "--eval-chars", "-1"], "--eval-chars"),
    (["train", "--batch-size", "0"], "--batch-size"),
    (["train", "--seq-len", "0"], "--seq-len"),
    (["train", "--hidden-size", "0"], "--hidden-size"),
    (["train", "--layers", "0"], "--layers"),
    (["train", "--embed-dim", "-1"], "--embed-dim"),
    (["train", "--warmup-steps", "-1"], "--warmup-steps"),
    (["train", "--min-lr-ratio", "2"], "--min-lr-ratio"),
    (["train", "--grad-clip", "-1"], "--grad-clip"),
    (["train", "--weight-decay", "-1"], "--weight-decay"),
    (["train", "--max-vocab", "0"], "--max-vocab"),
    (["train", "--sample-length", "-1"], "--sample-length"),
    (["train", "--device", "tpu"], "--device"),
    (["sample", "--device", "gpu"], "--device"),
    (["sample", "-n", "0"], "--num-samples"),
    (["sample", "-l", "0"], "--length"),
    (["sample", "-t", "-1"], "--temperature"),
    (["repl", "-n", "5"], "-n"),  # -n was repl's --length: now no option at all, never something else
    (["novelty", "-n", "0"], "--num-samples"),
    (["novelty", "--temp", "inf"], "--temp"),
    (["eval", "--device", "tpu", "x.txt"], "--device"),
    (["report", "a", "-c", "b"], "-c/--checkpoint"),
])
def test_a_bad_option_value_is_a_usage_error_naming_the_option(args, option, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = chargen(*args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and option in errors[0], result.stderr
    assert not (tmp_path / "checkpoints").exists()  # refused before anything ran


def test_the_cli_refuses_a_value_with_the_message_the_library_gives():
    from chargen.config import ModelConfig, TrainConfig
    from chargen.errors import ChargenError

    for make, args in ((lambda: TrainConfig(lr=-1.0), ["--lr", "-1"]),
                       (lambda: ModelConfig(vocab_size=3, dropout=1.5), ["--dropout", "1.5"])):
        with pytest.raises(ChargenError) as refused:
            make()
        assert re.search(re.escape(str(refused.value)) + "$", chargen("train", *args).stderr, re.MULTILINE)


def test_info_says_yes_or_no_and_numbers_as_they_are():
    from chargen.store.record import fact_text

    assert (fact_text("resumable", True), fact_text("resumable", False)) == ("yes", "no")
    assert (fact_text("dropout", 0.2), fact_text("dropout", 0.0)) == ("0.2", "0")
    assert (fact_text("best_val_loss", 1.23456), fact_text("best_val_bpc", 2.0)) == ("1.2346", "2.0000")
    assert fact_text("parameters", 1234567) == "1,234,567" and fact_text("format_version", 2) == "2"
    assert (fact_text("parent", {"path": "a.pt", "step": 1200, "best_val_loss": 1.5})
            == "path a.pt; step 1,200; best val loss 1.5000")
