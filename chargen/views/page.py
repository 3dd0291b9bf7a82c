"""One self-contained HTML page built from sections: inline CSS and SVG, no network, no script.

Every view that writes HTML (heatmap, neurons, report) builds its page here. Text that comes from a
corpus, a model or a user goes through `text()` (html.escape, quotes included), so it is always shown
as the characters it is and never read as markup. Colours are inline styles, so they show with
JavaScript off; details appear in native tooltips (title attributes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.lede { color: #555; margin-top: 0; }
.text { font: 14px/1.7 ui-monospace, Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-all;
        border: 1px solid #e4e4e4; padding: 0.8em; background: #fafafa; }
.text span { border-radius: 2px; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { padding: 0.25em 0.8em; border-bottom: 1px solid #eee; text-align: left; }
th { font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.row-label { font: 12px ui-monospace, monospace; color: #555; margin: 0.8em 0 0.1em; }
.legend { font-size: 13px; color: #555; } .legend span { padding: 0 0.4em; margin-right: 0.3em; }
figure { margin: 1em 0; } figcaption { font-size: 13px; color: #555; }
pre.sample { font: 13px/1.5 ui-monospace, monospace; white-space: pre-wrap; background: #fafafa; border: 1px solid #e4e4e4; padding: 0.6em; }
"""
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def text(value: object) -> str:
    """Any value as HTML text: never markup."""
    return escape(str(value), quote=True)


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    body: str  # HTML built with this module's helpers (so already escaped)


def page(title: str, sections: Sequence[Section], lede: str = "") -> str:
    """The whole document."""
    parts = [f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
             f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{text(title)}</title>\n'
             f"<style>{STYLE}</style>\n</head>\n<body>\n<h1>{text(title)}</h1>\n"]
    if lede:
        parts.append(f'<p class="lede">{text(lede)}</p>\n')
    for s in sections:
        parts.append(f'<section id="{text(s.id)}">\n<h2>{text(s.title)}</h2>\n{s.body}\n</section>\n')
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A table; numbers are right-aligned."""
    head = "".join(f"<th>{text(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="num">{text(c)}</td>' if isinstance(c, (int, float)) and not isinstance(c, bool)
                                    else f"<td>{text(c)}</td>" for c in row) + "</tr>\n" for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}</table>"


def shown(ch: str) -> str:
    """A character as it should appear in a coloured run of text: the newline visible, then kept."""
    return "⏎\n" if ch == "\n" else ch


def colored_text(chars: Sequence[str], colors: Sequence[str], titles: Sequence[str] | None = None) -> str:
    """Characters, each on its own background colour, each with an optional tooltip."""
    spans = []
    for i, (ch, color) in enumerate(zip(chars, colors)):
        tip = f' title="{text(titles[i])}"' if titles else ""
        spans.append(f'<span style="background:{color}"{tip}>{text(shown(ch))}</span>')
    return f'<div class="text">{"".join(spans)}</div>'


def heat(value: float, top: float) -> str:
    """White (0) to red (`top` and beyond): surprise."""
    x = max(0.0, min(1.0, value / top))
    return f"rgb(255,{round(255 - 190 * x)},{round(255 - 215 * x)})"


def diverging(value: float) -> str:
    """Blue (-1) through white (0) to red (+1): a unit's activation."""
    x = max(-1.0, min(1.0, value))
    if x >= 0:
        return f"rgb(255,{round(255 - 170 * x)},{round(255 - 170 * x)})"
    return f"rgb({round(255 + 170 * x)},{round(255 + 120 * x)},255)"


# -- charts: inline SVG ------------------------------------------------------------------------

W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 300, 60, 150, 15, 40


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / count))
    step *= min((m for m in (1, 2, 5, 10) if (hi - lo) / (step * m) <= count), default=10)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


@dataclass(frozen=True)
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float]
    dashed: bool = False
    points: bool = False  # markers only, no line (a scatter)


def chart(series: Sequence[Series], x_label: str, y_label: str, log_y: bool = False, caption: str = "") -> str:
    """A line (or scatter) chart as inline SVG, with axes, ticks and a legend."""
    xs = [x for s in series for x in s.x]
    ys = [y for s in series for y in s.y if not log_y or y > 0]
    if not xs or not ys:
        return "<p>(nothing to plot yet)</p>"
    x_lo, x_hi = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    f = math.log10 if log_y else (lambda v: v)
    y_lo, y_hi = f(min(ys)), f(max(ys))
    if y_hi <= y_lo:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    pad = (y_hi - y_lo) * 0.05
    y_lo, y_hi = y_lo - pad, y_hi + pad
    px = lambda x: LEFT + (x - x_lo) / (x_hi - x_lo) * (W - LEFT - RIGHT)  # noqa: E731
    py = lambda y: TOP + (y_hi - f(y)) / (y_hi - y_lo) * (H - TOP - BOTTOM)  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
           f'font-family="system-ui, sans-serif" font-size="11">',
           f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" fill="none" stroke="#999"/>']
    for t in _ticks(x_lo, x_hi):
        out.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{H - BOTTOM}" y2="{H - BOTTOM + 4}" stroke="#999"/>'
                   f'<text x="{px(t):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{text(_fmt(t))}</text>')
    y_ticks = [10**e for e in range(math.floor(y_lo), math.ceil(y_hi) + 1)] if log_y else _ticks(y_lo, y_hi)
    for t in y_ticks:
        if y_lo <= f(t) <= y_hi:
            out.append(f'<line x1="{LEFT - 4}" x2="{W - RIGHT}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#eee"/>'
                       f'<text x="{LEFT - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{text(f"{t:.0e}" if log_y else _fmt(t))}</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 6}" text-anchor="middle">{text(x_label)}</text>'
               f'<text transform="translate(14 {(TOP + H - BOTTOM) / 2}) rotate(-90)" text-anchor="middle">{text(y_label)}</text>')
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        pts = [(px(x), py(y)) for x, y in zip(s.x, s.y) if not log_y or y > 0]
        if s.points:
            out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.2" fill="{color}" fill-opacity="0.6"/>' for x, y in pts]
        elif pts:
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6"{dash} '
                       f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts)}"/>')
        ly = TOP + 14 + 16 * i
        out.append(f'<line x1="{W - RIGHT + 10}" x2="{W - RIGHT + 28}" y1="{ly - 4}" y2="{ly - 4}" stroke="{color}" '
                   f'stroke-width="2"{dash}/><text x="{W - RIGHT + 32}" y="{ly}">{text(s.label)}</text>')
    out.append("</svg>")
    body = "".join(out)
    return f"<figure>{body}<figcaption>{text(caption)}</figcaption></figure>" if caption else f"<figure>{body}</figure>"
