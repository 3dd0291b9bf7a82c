"""Render the training loop's reports on stderr: a rich progress bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from chargen.units import bits
from chargen.train.reports import Evaluated, Finished, Note, Report, Started, Step

PLAIN_EVERY_S = 10.0  # without a terminal, a progress line this often
SPARK_BARS = "▁▂▃▄▅▆▇█"


class LossTrend:
    """The recent training loss as a sparkline: the mean of every `every` steps, the last `width` of them."""

    def __init__(self, width: int = 24, every: int = 25) -> None:
        self.width, self.every = width, every
        self.means: list[float] = []
        self._sum, self._count = 0.0, 0

    def add(self, loss: float) -> None:
        self._sum, self._count = self._sum + loss, self._count + 1
        if self._count == self.every:
            self.means = (self.means + [self._sum / self._count])[-self.width :]
            self._sum, self._count = 0.0, 0

    def sparkline(self) -> str:
        finite = [m for m in self.means if m == m and abs(m) != float("inf")]
        if len(finite) < 2:
            return ""
        lo, hi = min(finite), max(finite)
        scale = (len(SPARK_BARS) - 1) / (hi - lo) if hi > lo else 0.0
        return "".join(SPARK_BARS[round((m - lo) * scale)] for m in finite)


def _preview_line(text: str, width: int = 100) -> str:
    return text.replace("\n", " / ")[:width]


def _val(e: Evaluated) -> str:
    if e.val_loss is None:
        return "no validation"
    return f"val {e.val_loss:.4f} nats ({bits(e.val_loss):.3f} bpc){' best' if e.best else ''}"


def render(reports: Iterable[Report], console: Console, quiet: bool = False) -> Finished:
    """Consume every report; return the final one."""
    if quiet:
        for r in reports:
            if isinstance(r, Finished):
                return r
        raise AssertionError("the training loop ended without a Finished report")
    if console.is_terminal:
        return _render_live(reports, console)
    return _render_plain(reports, console)


def _started(r: Started, console: Console) -> None:
    what = f"resuming {r.run_dir} from step {r.resumed_from}" if r.resumed_from is not None else f"run {r.run_dir}"
    processes = f" x {r.world_size} processes" if r.world_size > 1 else ""
    part = f" ({r.eval_chars:,} read by each evaluation)" if r.eval_chars is not None and r.eval_chars < r.val_chars else ""
    console.print(f"{escape(what)}: {r.params:,} parameters on {r.device}{processes}, "
                  f"{r.train_chars:,} training / {r.val_chars:,} validation characters{part}")
    for note in r.notes:
        console.print(f"note: {escape(note)}")


def _render_live(reports: Iterable[Report], console: Console) -> Finished:
    progress = Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.fields[total_text]}"),
        TextColumn("ep {task.fields[epoch]:.2f}"),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TextColumn("[cyan]{task.fields[trend]}"),
        TextColumn("{task.fields[val]}"),
        TextColumn("{task.fields[speed]:,.0f} ch/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task("train", total=None, total_text="?", epoch=0.0, loss=float("nan"), val="", speed=0.0,
                             trend="")
    trend = LossTrend()
    with progress:
        for r in reports:
            if isinstance(r, Started):
                _started(r, progress.console)
                if r.resumed_from:
                    progress.update(task, completed=r.resumed_from)
            elif isinstance(r, Step):
                trend.add(r.loss)
                progress.update(task, completed=r.step, total=r.total, total_text=f"{r.total:,}" if r.total else "?",
                                epoch=r.epoch, loss=r.loss, speed=r.chars_per_s, trend=trend.sparkline())
            elif isinstance(r, Evaluated):
                val = f"val {r.val_loss:.3f} ({bits(r.val_loss):.2f} bpc)" if r.val_loss is not None else ""
                progress.update(task, val=val)
                progress.console.print(f"step {r.step:,}: train {r.train_loss:.4f}, {_val(r)}")
                progress.console.print(f"  [dim]{escape(_preview_line(r.preview))}[/dim]")
            elif isinstance(r, Note):
                progress.console.print(f"note: {escape(r.message)}")
            elif isinstance(r, Finished):
                return r
    raise AssertionError("the training loop ended without a Finished report")


def _render_plain(reports: Iterable[Report], console: Console) -> Finished:
    last = 0.0
    for r in reports:
        if isinstance(r, Started):
            _started(r, console)
        elif isinstance(r, Step):
            now = time.monotonic()
            if now - last >= PLAIN_EVERY_S:
                last = now
                total = f"{r.total:,}" if r.total else "?"
                console.print(f"step {r.step:,}/{total} epoch {r.epoch:.2f} loss {r.loss:.4f} "
                              f"lr {r.lr:.2e} {r.chars_per_s:,.0f} chars/s", highlight=False)
        elif isinstance(r, Evaluated):
            console.print(f"step {r.step:,}: train {r.train_loss:.4f}, {_val(r)}", highlight=False)
            console.print(f"  sample: {escape(_preview_line(r.preview))}", highlight=False)
        elif isinstance(r, Note):
            console.print(f"note: {escape(r.message)}", highlight=False)
        elif isinstance(r, Finished):
            return r
    raise AssertionError("the training loop ended without a Finished report")


def encoding_progress(console, quiet: bool):
    """A progress bar for reading and encoding large corpora (shown only past a few MB)."""
    if quiet:
        return None
    state: dict = {}

    def report(phase: str, done: int, total: int) -> None:
        if total < 32 << 20:
            return
        if "progress" not in state:
            state["progress"] = Progress(console=console, transient=True)
            state["progress"].start()
            state["tasks"] = {}
        progress, tasks = state["progress"], state["tasks"]
        if phase not in tasks:
            tasks[phase] = progress.add_task(f"{phase} corpus", total=total)
        progress.update(tasks[phase], completed=done)
        if done >= total and phase == "encoding":
            progress.stop()

    return report
