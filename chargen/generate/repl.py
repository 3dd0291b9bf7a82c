"""The interactive completion loop: type a prefix, watch the model continue it.

The model's state is carried, never recomputed: an empty line (or `:more`) continues exactly where the
last continuation stopped. On a terminal the continuation streams in colour with line editing and
history; when standard input is not a terminal, each input line gets its completion on one line of
stdout (newlines and backslashes escaped as \\n and \\\\), with no prompts or escape codes.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from chargen.config import SamplingSettings, check_length, check_temperature, check_top_k, check_top_p, unescape
from chargen.errors import ChargenError
from chargen.generate.sample import Sampler, StepModel
from chargen.data.vocab import ITEM_BOUNDARY, Vocab, describe_chars

HELP = """\
Type text and press Enter: the model continues it. An empty line continues the last continuation.
  :more            continue from where the last continuation stopped (same as an empty line)
  :temp X          sampling temperature (0 is greedy)      :topk K | off    keep the K likeliest
  :topp P | off    nucleus sampling                         :len N           characters per continuation
  :seed S          restart the random generator             :stop TEXT | off stop after TEXT
  :keep on|off     new text continues the context (on) or starts afresh (off)
  :reset           forget the context                       :probs on|off    colour by probability
  :choose          pick the next character from the top few, then go on
  :info            model and settings                       :save FILE       write the session's text
  :help            this help                                :quit            leave (or Ctrl-D)"""

COMMANDS = ("more", "temp", "topk", "topp", "len", "seed", "stop", "keep", "reset", "probs", "choose", "info",
            "save", "help", "quit")
CHOICES = 5  # characters offered by :choose

# ANSI styles: generated text in cyan; with :probs, green (confident) through yellow to red (a guess).
RESET, GENERATED, DIM, ERROR = "\x1b[0m", "\x1b[36m", "\x1b[2m", "\x1b[31m"
HEAT = ((0.6, "\x1b[32m"), (0.3, "\x1b[92m"), (0.1, "\x1b[33m"), (0.0, "\x1b[31m"))


@dataclass
class ReplSettings:
    sampling: SamplingSettings
    length: int = 200
    seed: int | None = None
    stop: str | None = None
    keep: bool = False
    probs: bool = False
    items: bool = False  # a line-mode model: each line typed is the beginning of an item, completed to its end


def parse_command(line: str) -> tuple[str, str]:
    """':temp 0.5' -> ('temp', '0.5'). Raises ChargenError with a hint for unknown commands."""
    name, _, arg = line[1:].strip().partition(" ")
    name = name.lower()
    if name not in COMMANDS:
        raise ChargenError(f"unknown command ':{name}'; type :help for the list")
    return name, arg.strip()


def _on_off(arg: str) -> bool:
    if arg.lower() in ("on", "yes", "1", "true"):
        return True
    if arg.lower() in ("off", "no", "0", "false"):
        return False
    raise ChargenError(f"expected on or off, not {arg!r}")


def _number(arg: str, kind: type, check: Callable, what: str):
    try:
        value = kind(arg)
    except ValueError:
        raise ChargenError(f"{what} needs a number, not {arg!r}") from None
    return check(value)


def _optional(arg: str, kind: type, check: Callable, what: str):
    return None if arg.lower() in ("off", "none", "") else _number(arg, kind, check, what)


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "chargen"


class Repl:
    """One session: a sampler with carried state, its settings, and the text so far."""

    def __init__(self, model: StepModel, vocab: Vocab, settings: ReplSettings, description: str,
                 stdin: TextIO | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None,
                 interactive: bool | None = None) -> None:
        self.vocab, self.settings, self.description = vocab, settings, description
        self.sampler = Sampler(model, vocab, settings.sampling, seed=settings.seed)
        # Looked up now, not at import: click's test runner swaps the standard streams per call.
        self.stdin, self.stdout, self.stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
        self.interactive = self.stdin.isatty() and self.stdout.isatty() if interactive is None else interactive
        self.transcript: list[str] = []
        self._interrupted = False

    # -- output ----------------------------------------------------------------------------

    def _style(self, text: str, style: str) -> str:
        return f"{style}{text}{RESET}" if self.interactive else text

    def say(self, message: str) -> None:
        """Messages: on a terminal, dim lines on stdout; otherwise on stderr, leaving stdout to completions."""
        if self.interactive:
            self.stdout.write(self._style(message, DIM) + "\n")
        else:
            self.stderr.write(message + "\n")

    def error(self, message: str) -> None:
        stream = self.stdout if self.interactive else self.stderr
        stream.write(self._style(message, ERROR) + "\n")

    def _emit(self, ch: str, prob: float | None) -> None:
        if not self.interactive:
            self.stdout.write(ch.replace("\\", "\\\\").replace("\n", "\\n"))
            return
        style = GENERATED if prob is None else next(color for floor, color in HEAT if prob >= floor)
        self.stdout.write(f"{style}{ch}{RESET}")
        self.stdout.flush()

    # -- the loop --------------------------------------------------------------------------

    def banner(self) -> str:
        s = self.settings
        sampling = s.sampling
        extras = "".join([f", top-k {sampling.top_k}" if sampling.top_k else "",
                          f", top-p {sampling.top_p}" if sampling.top_p else ""])
        return (f"{self.description} | temp {sampling.temperature:g}{extras}, {s.length} chars"
                f"{', seed ' + str(s.seed) if s.seed is not None else ''} | :help for commands")

    def run(self) -> int:
        """Read lines until :quit or end of input; returns the exit status."""
        history = self._start_history() if self.interactive else None
        if self.interactive:
            self.say(self.banner())
        try:
            while True:
                try:
                    line = self._read("» " if self.interactive else "")
                except KeyboardInterrupt:  # Ctrl-C at the prompt clears the line
                    self.stdout.write("\n")
                    continue
                except EOFError:
                    if self.interactive:
                        self.stdout.write("\n")
                    return 0
                if not self.handle(line):
                    return 0
        finally:
            if history is not None:
                history()

    def _read(self, prompt: str) -> str:
        if self.interactive:
            return input(prompt)
        line = self.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n").removesuffix("\r")

    def handle(self, line: str) -> bool:
        """Act on one input line; False means quit."""
        try:
            if line.startswith(":") and not line.startswith("::"):
                return self._command(*parse_command(line))
            text = line[1:] if line.startswith("::") else line  # '::' types a literal leading colon
            if text or self.settings.items:  # for items, an empty line asks for a whole new one
                self.prefix(text)
            else:
                self.generate()
        except ChargenError as e:
            self.error(str(e))
        return True

    def prefix(self, text: str) -> None:
        missing = self.vocab.unknown(text)
        if missing:
            raise ChargenError(f"the model never saw {describe_chars(missing)}; try other text")
        if self.settings.items:  # every item is read from the start state, after the item boundary
            self.sampler.reset()
            self.sampler.feed(ITEM_BOUNDARY + text)
        else:
            if not self.settings.keep:
                self.sampler.reset()
            self.sampler.feed(text)
        self.transcript.append(text)
        self.generate()

    def generate(self, length: int | None = None) -> None:
        """Stream a continuation; Ctrl-C stops it between two characters, so the state stays whole."""
        length = self.settings.length if length is None else length
        stop = self.settings.stop
        produced: list[str] = []
        self._interrupted = False
        previous = self._catch_interrupts()
        try:
            for _ in range(length):
                if self._interrupted:
                    break
                prob = None
                if self.settings.probs:
                    probs = self.sampler.probabilities()[0]
                ids = self.sampler.step_ids()
                ch = self.vocab.chars[ids[0]]
                if self.settings.items and ch == ITEM_BOUNDARY:  # the item is complete
                    break
                if self.settings.probs:
                    prob = float(probs[ids[0]])
                produced.append(ch)
                self._emit(ch, prob)
                if stop and "".join(produced[-len(stop):]) == stop:
                    break
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        self.stdout.write("\n")
        self.stdout.flush()
        self.transcript.append("".join(produced))
        if self._interrupted:
            self.say("(stopped)")

    def _catch_interrupts(self):
        """While generating on a terminal, Ctrl-C sets a flag instead of raising mid-step."""
        if not self.interactive:
            return None

        def on_sigint(signum, frame):
            self._interrupted = True

        try:
            return signal.signal(signal.SIGINT, on_sigint)
        except ValueError:  # not the main thread
            return None

    def _command(self, name: str, arg: str) -> bool:
        s = self.settings
        if name == "quit":
            return False
        if name == "more":
            self.prefix("") if self.settings.items else self.generate()
        elif name == "temp":
            self._set_sampling(temperature=_number(arg, float, check_temperature, ":temp"))
        elif name == "topk":
            self._set_sampling(top_k=_optional(arg, int, check_top_k, ":topk"))
        elif name == "topp":
            self._set_sampling(top_p=_optional(arg, float, check_top_p, ":topp"))
        elif name == "len":
            s.length = _number(arg, int, check_length, ":len")
        elif name == "seed":
            s.seed = _number(arg, int, lambda v: v, ":seed")
            self.sampler.reseed(s.seed)
        elif name == "stop":
            s.stop = None if arg.lower() in ("", "off") else unescape(arg)
        elif name == "keep":
            s.keep = _on_off(arg)
        elif name == "probs":
            s.probs = _on_off(arg)
        elif name == "reset":
            self.sampler.reset()
            self.say("context cleared")
        elif name == "choose":
            self._choose()
        elif name == "info":
            self.say(self.banner())
        elif name == "save":
            self._save(arg)
        elif name == "help":
            self.say(HELP)
        return True

    def _set_sampling(self, **changes) -> None:
        self.settings.sampling = replace(self.settings.sampling, **changes)
        self.sampler.settings = self.settings.sampling

    def _choose(self) -> None:
        probs = self.sampler.probabilities()[0]
        top = sorted(range(len(probs)), key=lambda i: -probs[i])[:CHOICES]
        self.say("  ".join(f"{n}:{self.vocab.chars[i]!r} {probs[i]:.2f}" for n, i in enumerate(top, 1)))
        try:
            answer = self._read(f"pick 1-{len(top)}: " if self.interactive else "").strip()
        except (EOFError, KeyboardInterrupt):
            answer = ""
        if not answer.isdigit() or not 1 <= int(answer) <= len(top):
            raise ChargenError(f"expected a number from 1 to {len(top)}; nothing chosen")
        ch = self.vocab.chars[top[int(answer) - 1]]
        self.sampler.feed(ch)  # the user's pick becomes the next character
        self._emit(ch, None)
        self.transcript.append(ch)
        self.generate()

    def _save(self, arg: str) -> None:
        if not arg:
            raise ChargenError(":save needs a file name")
        try:
            Path(arg).expanduser().write_text("".join(self.transcript), encoding="utf-8")
        except OSError as e:
            raise ChargenError(f"cannot write {arg}: {e.strerror}") from None
        self.say(f"saved {sum(map(len, self.transcript)):,} characters to {arg}")

    def _start_history(self) -> Callable[[], None] | None:
        """Line editing and persistent history through readline; returns the function that saves it."""
        try:
            import readline
        except ImportError:
            return None
        path = data_dir() / "repl_history"
        try:
            readline.read_history_file(path)
        except OSError:
            pass
        readline.set_history_length(1000)

        def save() -> None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(path)
            except OSError:
                pass  # history is a convenience; never fail the session over it

        return save


def describe_model(name: str, config, best_val_loss: float | None, items: bool = False) -> str:
    bpc = f", val {best_val_loss / math.log(2):.3f} bpc" if best_val_loss is not None else ""
    mode = ", one item per line" if items else ""
    return f"{name}: {config.cell} {config.layers}x{config.hidden_size}{bpc}{mode}"
