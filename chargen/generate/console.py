"""The REPL's terminal: colour, prompts, line editing and history on a terminal; plain lines elsewhere."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TextIO

# ANSI styles: generated text in cyan; with :probs, green (confident) through yellow to red (a guess).
RESET, GENERATED, DIM, ERROR = "\x1b[0m", "\x1b[36m", "\x1b[2m", "\x1b[31m"
HEAT = ((0.6, "\x1b[32m"), (0.3, "\x1b[92m"), (0.1, "\x1b[33m"), (0.0, "\x1b[31m"))


class Terminal:
    """The session's streams: colour and prompts on a terminal; otherwise plain completions on stdout."""

    def __init__(self, stdin: TextIO | None, stdout: TextIO | None, stderr: TextIO | None,
                 interactive: bool | None) -> None:
        # Looked up now, not at import: click's test runner swaps the standard streams per call.
        self.stdin, self.stdout, self.stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
        self.interactive = self.stdin.isatty() and self.stdout.isatty() if interactive is None else interactive
        self.interrupted = False

    def say(self, message: str, style: str = DIM) -> None:
        """Messages: on a terminal, styled lines on stdout; otherwise on stderr, leaving stdout to completions."""
        if self.interactive:
            self.stdout.write(f"{style}{message}{RESET}\n")
        else:
            self.stderr.write(message + "\n")

    def emit(self, ch: str, prob: float | None) -> None:
        """One generated character: coloured on a terminal, escaped so a completion stays one line otherwise."""
        if not self.interactive:
            self.stdout.write(ch.replace("\\", "\\\\").replace("\n", "\\n"))
            return
        style = GENERATED if prob is None else next(color for floor, color in HEAT if prob >= floor)
        self.stdout.write(f"{style}{ch}{RESET}")
        self.stdout.flush()

    def end_line(self) -> None:
        self.stdout.write("\n")
        self.stdout.flush()

    def read(self, prompt: str) -> str:
        """One input line; the prompt is shown only on a terminal. Raises EOFError at the end of input."""
        if self.interactive:
            return input(prompt)
        line = self.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n").removesuffix("\r")

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """On a terminal, Ctrl-C sets `interrupted` instead of raising, so a step is never cut in half."""
        self.interrupted, previous = False, None
        if self.interactive:
            with suppress(ValueError):  # not the main thread
                previous = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            yield
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _on_sigint(self, signum, frame) -> None:
        self.interrupted = True


def start_history() -> Callable[[], None] | None:
    """Line editing and persistent history through readline; returns the function that saves it."""
    try:
        import readline
    except ImportError:
        return None
    path = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "chargen" / "repl_history"
    with suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(1000)

    def save() -> None:
        with suppress(OSError):  # history is a convenience; never fail the session over it
            path.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(path)

    return save
