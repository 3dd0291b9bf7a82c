"""The views in a terminal: rich for coloured characters and tables, plotext for charts.

Colours follow the rich console they are printed on: none into a pipe or a file, or with NO_COLOR set.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from chargen.views.gradflow import Flow
from chargen.units import LN2
from chargen.views.neurons import Activations, Saturation
from chargen.views.novelty import SIZES, Copying
from chargen.views.surprise import Surprise

CHART = (90, 20)  # plotext width and height, in characters


def _char(ch: str) -> str:
    return "␣" if ch == " " else repr(ch)[1:-1] if ch in "\n\t\r" else ch


def _bg(r: float, g: float, b: float) -> str:
    return f"black on rgb({round(r)},{round(g)},{round(b)})"


def _shown(ch: str) -> str:
    return "⏎\n" if ch == "\n" else ch


def surprise_text(s: Surprise, top_bits: float = 8.0) -> Text:
    """The text, each character on a background from white (expected) to red (a surprise)."""
    out = Text()
    for c in s.chars:
        x = min(c.bits / top_bits, 1.0)
        out.append(_shown(c.char), style=_bg(255, 255 - 190 * x, 255 - 215 * x))
    return out


def show_surprise(console: Console, s: Surprise, places: int = 10) -> None:
    console.print(surprise_text(s))
    lines = s.lines()
    if 1 < len(lines) <= 40:
        table = Table("line", "bits/char", "text", box=None, header_style="bold")
        for i, line in enumerate(lines, 1):
            table.add_row(str(i), f"{line.bpc:.3f}", Text(line.text[:70]))
        console.print(table)
    table = Table("position", "char", "bits", "the model expected", title="The most surprising places", box=None,
                  header_style="bold", title_justify="left")
    for i in s.most_surprising(places):
        c = s.chars[i]
        table.add_row(str(i), Text(_char(c.char)), f"{c.bits:.2f}", Text("  ".join(f"{_char(ch)} {p:.2f}"
                                                                                   for ch, p in c.expected)))
    console.print(table)
    console.print(f"{len(s.chars):,} characters, {s.bpc:.3f} bits per character ({s.bpc * LN2:.4f} nats)")


def activation_text(text: str, values: np.ndarray) -> Text:
    """Characters on a background from blue (-1) through white to red (+1)."""
    out = Text()
    for ch, v in zip(text, values):
        x = float(np.clip(v, -1, 1))
        color = (255, 255 - 170 * x, 255 - 170 * x) if x >= 0 else (255 + 170 * x, 255 + 120 * x, 255)
        out.append(_shown(ch), style=_bg(*color))
    return out


def show_neurons(console: Console, acts: Activations, rows: Sequence[tuple[int, str]]) -> None:
    for cell, label in rows:
        console.print(Text(label, style="bold"))
        console.print(activation_text(acts.text, acts.values[:, cell]))
        console.print()


def chart(series: Sequence[tuple[str, Sequence[float], Sequence[float]]], title: str, x_label: str, y_label: str,
          log_y: bool = False, color: bool = True, scatter: bool = False) -> str:
    """A plotext chart as text; `series` are (label, x, y)."""
    import plotext as plt

    plt.clf()
    plt.plotsize(*CHART)
    for label, x, y in series:
        points = [(a, b) for a, b in zip(x, y) if not log_y or b > 0]
        if points:
            draw = plt.scatter if scatter else plt.plot
            draw([p[0] for p in points], [p[1] for p in points], label=label)
    if log_y:
        plt.yscale("log")
    plt.title(title)
    plt.xlabel(x_label)
    plt.ylabel(y_label)
    built = plt.build()
    return built if color else plt.uncolorize(built)


def colors_on(console: Console) -> bool:
    return console.is_terminal and not os.environ.get("NO_COLOR")


def show_gradflow(console: Console, flows: Sequence[Flow]) -> None:
    series = [(f"{f.cell} {'init' if f.stage == 'initialisation' else 'trained'}", range(len(f.norms)),
               f.norms / f.norms[0]) for f in flows]
    console.print(Text.from_ansi(chart(series, "|dL_T/ds_(T-k)| relative to k = 0", "k: steps back", "relative norm",
                                       log_y=True, color=colors_on(console))))
    table = Table("cell", "stage", "reach (1%)", "at k=10", "at k=50", "steps clipped", box=None, header_style="bold")
    for f in flows:
        rel = f.norms / f.norms[0]
        table.add_row(f.cell, f.stage, str(f.reach) if f.reach is not None else f"beyond {f.horizon}",
                      f"{rel[min(10, f.horizon)]:.2e}", f"{rel[min(50, f.horizon)]:.2e}",
                      "" if f.clipped is None else f"{f.clipped:.1%}")
    console.print(table)


def show_gates(console: Console, saturations: Sequence[Saturation]) -> None:
    series = [(s.gate, s.left, s.right) for s in saturations]
    console.print(Text.from_ansi(chart(series, "gate saturation: each point a unit", "fraction left-saturated (< 0.1)",
                                       "fraction right-saturated (> 0.9)", color=colors_on(console), scatter=True)))


def show_curves(console: Console, runs: Sequence[tuple[str, list[dict]]], x: str, bits: bool) -> None:
    scale = 1 / LN2 if bits else 1.0
    series = []
    for name, records in runs:
        xs = [{"step": r["step"], "time": r.get("elapsed_s", 0.0), "chars": r.get("chars", 0)}[x] for r in records]
        series.append((f"{name} train", xs, [r["train_loss"] * scale for r in records]))
        val = [(a, r["val_loss"] * scale) for a, r in zip(xs, records) if r.get("val_loss") is not None]
        if val:
            series.append((f"{name} val", [v[0] for v in val], [v[1] for v in val]))
    label = {"step": "step", "time": "training time (s)", "chars": "characters read"}[x]
    console.print(Text.from_ansi(chart(series, "loss", label, "bits per character" if bits else "nats per character",
                                       color=colors_on(console))))


def show_copying(console: Console, generated: Copying, validation: Copying | None, note: str) -> None:
    table = Table("", *(f"{n}-grams" for n in SIZES), title="Share of n-grams found verbatim in the training text",
                  box=None, header_style="bold", title_justify="left")
    table.add_row("generated", *(f"{generated.shares.get(n, 0):.1%}" for n in SIZES))
    if validation is not None:
        table.add_row("validation (copies nothing)", *(f"{validation.shares.get(n, 0):.1%}" for n in SIZES))
    console.print(table)
    if generated.longest:
        console.print(f"longest copied passage: {len(generated.longest.text)} characters, at {generated.longest.where}:")
        console.print(Text(generated.longest.text))
    console.print(Text(note, style="dim"))
