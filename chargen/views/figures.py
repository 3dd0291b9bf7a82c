"""Charts written as image files (PNG or SVG) with matplotlib, the optional extra `chargen[plot]`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chargen.errors import ChargenError
from chargen.views.gradflow import Flow
from chargen.units import LN2

FORMATS = (".png", ".svg")


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no window, no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ChargenError("writing a chart to a file needs matplotlib: pip install 'chargen[plot]'") from None
    return plt


def check_output(path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        raise ChargenError(f"-o/--output {path}: the chart is written as .png or .svg, not {path.suffix or 'no suffix'}")


def _save(fig, path: Path) -> None:
    try:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    except OSError as e:
        raise ChargenError(f"cannot write {path}: {e.strerror}") from None


def curves_figure(runs: Sequence[tuple[str, list[dict]]], x: str, bits: bool, path: Path) -> None:
    check_output(path)
    plt = _pyplot()
    scale = 1 / LN2 if bits else 1.0
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (name, records) in enumerate(runs):
        color = f"C{i}"
        xs = [{"step": r["step"], "time": r.get("elapsed_s", 0.0), "chars": r.get("chars", 0)}[x] for r in records]
        ax.plot(xs, [r["train_loss"] * scale for r in records], "--", color=color, label=f"{name} train")
        val = [(a, r["val_loss"] * scale) for a, r in zip(xs, records) if r.get("val_loss") is not None]
        if val:
            ax.plot([v[0] for v in val], [v[1] for v in val], "-o", ms=3, color=color, label=f"{name} val")
    ax.set_xlabel({"step": "step", "time": "training time (s)", "chars": "characters read"}[x])
    ax.set_ylabel("bits per character" if bits else "nats per character")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)
    plt.close(fig)


def gradflow_figure(flows: Sequence[Flow], path: Path) -> None:
    check_output(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    cells = list(dict.fromkeys(f.cell for f in flows))
    for f in flows:
        color = f"C{cells.index(f.cell)}"
        style = ":" if f.stage == "initialisation" else "-"
        ax.semilogy(range(len(f.norms)), f.norms / f.norms[0], style, color=color, label=f"{f.cell}, {f.stage}")
    ax.set_xlabel("k: steps back from the prediction")
    ax.set_ylabel("|dL_T / ds_(T-k)|, relative to k = 0")
    ax.axhline(0.01, color="gray", lw=0.8, alpha=0.6)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)
