"""The interactive completion loop: type a prefix, watch the model continue it.

The model's state is carried, never recomputed: an empty line (or `:more`) continues exactly where the
last continuation stopped. On a terminal the continuation streams in colour with line editing and
history; when standard input is not a terminal, each input line gets its completion on one line of
stdout (newlines and backslashes escaped as \\n and \\\\), with no prompts or escape codes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from chargen.config import SamplingSettings, check_length, check_temperature, check_top_k, check_top_p, unescape
from chargen.errors import ChargenError
from chargen.generate.console import ERROR, Terminal, start_history
from chargen.generate.sample import Sampler, StepModel
from chargen.data.vocab import ITEM_BOUNDARY, Vocab, describe_chars
from chargen.units import bits

CHOICES = 5  # characters offered by :choose
# What :adapt calls: a file name -> (a step model adapted to its text, its end to read, what to tell the user).
Adapter = Callable[[str], tuple[StepModel, str, str]]


@dataclass
class ReplSettings:
    sampling: SamplingSettings
    length: int = 200
    seed: int | None = None
    stop: str | None = None
    keep: bool = False
    probs: bool = False
    items: bool = False  # a line-mode model: each line typed is the beginning of an item, completed to its end


class Repl:
    """One session: a sampler with carried state, its settings, the text so far, and the actions on them."""

    def __init__(self, model: StepModel, vocab: Vocab, settings: ReplSettings, description: str,
                 stdin: TextIO | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None,
                 interactive: bool | None = None, adapter: Adapter | None = None) -> None:
        self.vocab, self.settings, self.description = vocab, settings, description
        self.sampler = Sampler(model, vocab, settings.sampling, seed=settings.seed)
        self.trained, self.adapter = model, adapter
        self.term = Terminal(stdin, stdout, stderr, interactive)
        self.transcript: list[str] = []

    def banner(self) -> str:
        s, sampling = self.settings, self.settings.sampling
        extras = "".join([f", top-k {sampling.top_k}" if sampling.top_k else "",
                          f", top-p {sampling.top_p}" if sampling.top_p else ""])
        return (f"{self.description} | temp {sampling.temperature:g}{extras}, {s.length} chars"
                f"{', seed ' + str(s.seed) if s.seed is not None else ''} | :help for commands")

    def run(self) -> int:
        """Read lines until :quit or end of input; returns the exit status."""
        history = start_history() if self.term.interactive else None
        if self.term.interactive:
            self.term.say(self.banner())
        try:
            while True:
                try:
                    line = self.term.read("» ")
                except KeyboardInterrupt:  # Ctrl-C at the prompt clears the line
                    self.term.end_line()
                    continue
                except EOFError:
                    if self.term.interactive:
                        self.term.end_line()
                    return 0
                if not self.handle(line):
                    return 0
        finally:
            if history is not None:
                history()

    def handle(self, line: str) -> bool:
        """Act on one input line; False means quit."""
        try:
            if line.startswith(":") and not line.startswith("::"):
                name, arg = parse_command(line)
                command = next(c for c in COMMAND_TABLE if c.name == name)
                return command.run(self, arg) is not False
            text = line[1:] if line.startswith("::") else line  # '::' types a literal leading colon
            if text or self.settings.items:  # for items, an empty line asks for a whole new one
                self.prefix(text)
            else:
                self.generate()
        except ChargenError as e:
            self.term.say(str(e), ERROR)
        return True

    def prefix(self, text: str) -> None:
        if missing := self.vocab.unknown(text):
            raise ChargenError(f"the model never saw {describe_chars(missing)}; try other text")
        items = self.settings.items  # every item is read from the start state, after the item boundary
        if items or not self.settings.keep:
            self.sampler.reset()
        self.sampler.feed(ITEM_BOUNDARY + text if items else text)
        self.transcript.append(text)
        self.generate()

    def generate(self) -> None:
        """Stream a continuation; Ctrl-C stops it between two characters, so the state stays whole."""
        stop = self.settings.stop
        produced: list[str] = []
        with self.term.interruptible():
            for _ in range(self.settings.length):
                if self.term.interrupted:
                    break
                probs = self.sampler.probabilities()[0] if self.settings.probs else None  # before the step moves on
                ids = self.sampler.step_ids()
                ch = self.vocab.chars[ids[0]]
                if self.settings.items and ch == ITEM_BOUNDARY:  # the item is complete
                    break
                produced.append(ch)
                self.term.emit(ch, None if probs is None else float(probs[ids[0]]))
                if stop and "".join(produced[-len(stop):]) == stop:
                    break
        self.term.end_line()
        self.transcript.append("".join(produced))
        if self.term.interrupted:
            self.term.say("(stopped)")

    def reseed(self, seed: int) -> None:
        self.settings.seed = seed
        self.sampler.reseed(seed)

    def reset(self) -> None:
        self.sampler.reset()
        self.term.say("context cleared")

    def choose(self) -> None:
        """Offer the likeliest next characters; the one picked is fed, then the continuation goes on."""
        probs = self.sampler.probabilities()[0]
        top = sorted(range(len(probs)), key=lambda i: -probs[i])[:CHOICES]
        self.term.say("  ".join(f"{n}:{self.vocab.chars[i]!r} {probs[i]:.2f}" for n, i in enumerate(top, 1)))
        try:
            answer = self.term.read(f"pick 1-{len(top)}: ").strip()
        except (EOFError, KeyboardInterrupt):
            answer = ""
        if not answer.isdigit() or not 1 <= int(answer) <= len(top):
            raise ChargenError(f"expected a number from 1 to {len(top)}; nothing chosen")
        ch = self.vocab.chars[top[int(answer) - 1]]
        self.sampler.feed(ch)  # the user's pick becomes the next character
        self.term.emit(ch, None)
        self.transcript.append(ch)
        self.generate()

    def adapt(self, path: str) -> None:
        """Continue the text in `path` with a copy of the model adapted to it; `off` goes back to the model as trained."""
        if path.lower() == "off":
            self.sampler.model = self.trained
            self.sampler.reset()
            self.term.say("back to the model as trained; context cleared")
            return
        if not path:
            raise ChargenError(":adapt needs a file name (or off)")
        if self.adapter is None:
            raise ChargenError(":adapt is not available in this session")
        try:
            model, context, note = self.adapter(path)
        except KeyboardInterrupt:  # Ctrl-C while it learns: the session goes on with the model it had
            self.term.end_line()
            self.term.say("(adapting stopped; the model is as it was)")
            return
        self.term.say(note)
        self.sampler.model = model
        self.sampler.reset()
        self.sampler.feed(context)
        self.generate()

    def save(self, path: str) -> None:
        if not path:
            raise ChargenError(":save needs a file name")
        try:
            Path(path).expanduser().write_text("".join(self.transcript), encoding="utf-8")
        except OSError as e:
            raise ChargenError(f"cannot write {path}: {e.strerror}") from None
        self.term.say(f"saved {sum(map(len, self.transcript)):,} characters to {path}")


# -- the commands: one table gives the dispatch, the :help text and the names ---------------

@dataclass(frozen=True)
class Command:
    """One REPL command: as typed, as :help shows it, and what it does."""
    name: str  # typed as ':name'
    arg: str  # the argument's shape, as :help shows it
    help: str  # one line for :help
    run: Callable[[Repl, str], bool | None]  # (session, argument); returning False ends the session


def _on_off(arg: str) -> bool:
    if arg.lower() in ("on", "yes", "1", "true"):
        return True
    if arg.lower() in ("off", "no", "0", "false"):
        return False
    raise ChargenError(f"expected on or off, not {arg!r}")


def _number(kind: type, what: str, check: Callable = lambda v: v, optional: bool = False) -> Callable[[str], object]:
    """The parser of a command's number, checked; an optional one reads 'off' (or nothing) as None."""
    def parse(arg: str):
        if optional and arg.lower() in ("off", "none", ""):
            return None
        try:
            value = kind(arg)
        except ValueError:
            raise ChargenError(f"{what} needs a number, not {arg!r}") from None
        return check(value)
    return parse


def _setting(field: str, parse: Callable[[str], object]) -> Callable[[Repl, str], None]:
    return lambda session, arg: setattr(session.settings, field, parse(arg))


def _sampling(field: str, parse: Callable[[str], object]) -> Callable[[Repl, str], None]:
    """A handler for a sampling setting; the sampler is handed the new settings, as it keeps its own."""
    def run(session: Repl, arg: str) -> None:
        session.settings.sampling = replace(session.settings.sampling, **{field: parse(arg)})
        session.sampler.settings = session.settings.sampling
    return run


COMMAND_TABLE = (
    Command("more", "", "continue from where the last continuation stopped (same as an empty line)",
            lambda session, _: session.handle("")),
    Command("temp", "X", "sampling temperature (0 is greedy)",
            _sampling("temperature", _number(float, ":temp", check_temperature))),
    Command("topk", "K | off", "keep the K likeliest",
            _sampling("top_k", _number(int, ":topk", check_top_k, optional=True))),
    Command("topp", "P | off", "nucleus sampling",
            _sampling("top_p", _number(float, ":topp", check_top_p, optional=True))),
    Command("len", "N", "characters per continuation", _setting("length", _number(int, ":len", check_length))),
    Command("seed", "S", "restart the random generator",
            lambda session, arg: session.reseed(_number(int, ":seed")(arg))),
    Command("stop", "TEXT | off", "stop after TEXT",
            _setting("stop", lambda arg: None if arg.lower() in ("", "off") else unescape(arg))),
    Command("keep", "on|off", "new text continues the context (on) or starts afresh (off)", _setting("keep", _on_off)),
    Command("reset", "", "forget the context", lambda session, _: session.reset()),
    Command("probs", "on|off", "colour by probability", _setting("probs", _on_off)),
    Command("choose", "", "pick the next character from the top few, then go on", lambda session, _: session.choose()),
    Command("info", "", "model and settings", lambda session, _: session.term.say(session.banner())),
    Command("adapt", "FILE | off", "continue FILE's text with a copy of the model adapted to it (off: as trained)",
            lambda session, arg: session.adapt(arg)),
    Command("save", "FILE", "write the session's text", lambda session, arg: session.save(arg)),
    Command("help", "", "this help", lambda session, _: session.term.say(help_text())),
    Command("quit", "", "leave (or Ctrl-D)", lambda session, _: False),
)
COMMANDS = tuple(command.name for command in COMMAND_TABLE)


def help_text() -> str:
    """The :help text, from the table: one line per command, the usages padded to one column."""
    usages = [f":{c.name} {c.arg}".rstrip() for c in COMMAND_TABLE]
    width = max(map(len, usages)) + 2
    intro = "Type text and press Enter: the model continues it. An empty line continues the last continuation."
    return "\n".join([intro, *(f"  {usage:<{width}}{c.help}" for usage, c in zip(usages, COMMAND_TABLE))])


def parse_command(line: str) -> tuple[str, str]:
    """':temp 0.5' -> ('temp', '0.5'). Raises ChargenError with a hint for unknown commands."""
    name, _, arg = line[1:].strip().partition(" ")
    name = name.lower()
    if name not in COMMANDS:
        raise ChargenError(f"unknown command ':{name}'; type :help for the list")
    return name, arg.strip()


def describe_model(name: str, config, best_val_loss: float | None, items: bool = False) -> str:
    bpc = f", val {bits(best_val_loss):.3f} bpc" if best_val_loss is not None else ""
    mode = ", one item per line" if items else ""
    return f"{name}: {config.cell} {config.layers}x{config.hidden_size}{bpc}{mode}"
