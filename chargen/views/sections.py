"""The HTML sections of the views: surprise, cell activations, gate saturation, gradient flow, loss
curves, samples, copying and a checkpoint's facts. The single-view pages (heatmap, neurons) and the
run report are all built from these, with `chargen.views.page`, which escapes every piece of text."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chargen.views.gradflow import Flow
from chargen.views.neurons import Activations, Saturation, Tracker
from chargen.views.novelty import SIZES, Copying
from chargen.views.page import Section, Series, chart, colored_text, diverging, heat, table, text
from chargen.views.surprise import Surprise

SURPRISE_TOP_BITS = 8.0  # the reddest colour: a character the model gave 1/256 or less


def _char(ch: str) -> str:
    """A character as a table shows it: a space as ␣, a newline as \\n."""
    return "␣" if ch == " " else repr(ch)[1:-1] if ch in "\n\t\r" else ch


def surprise_section(s: Surprise, title: str = "Surprise", places: int = 12) -> Section:
    tips = [f"{_char(c.char)}: p = {c.prob:.3g} ({c.bits:.2f} bits); expected "
            + ", ".join(f"{_char(ch)} {p:.2f}" for ch, p in c.expected) for c in s.chars]
    body = [f"<p>{len(s.chars):,} characters at {s.bpc:.3f} bits per character. Each character is coloured by how "
            f"surprised the model was by it (−log<sub>2</sub> p, white 0 bits to red {SURPRISE_TOP_BITS:g} or more); "
            "hover one to see its probability and what the model expected instead.</p>",
            colored_text([c.char for c in s.chars], [heat(c.bits, SURPRISE_TOP_BITS) for c in s.chars], tips)]
    worst = s.most_surprising(places)
    rows = [(i, _char(s.chars[i].char), round(s.chars[i].bits, 2),
             ", ".join(f"{_char(ch)} {p:.2f}" for ch, p in s.chars[i].expected)) for i in worst]
    body.append("<h3>The most surprising places</h3>" + table(["position", "character", "bits", "expected instead"], rows))
    lines = s.lines()
    if len(lines) > 1:
        body.append("<h3>Bits per character, line by line</h3>"
                    + table(["line", "bits/char", "text"], [(i + 1, round(line.bpc, 3), line.text[:100])
                                                            for i, line in enumerate(lines[:200])]))
    return Section("surprise", title, "\n".join(body))


def neurons_section(acts: Activations, rows: Sequence[tuple[int, str]], title: str = "Cell activations") -> Section:
    """One row per chosen unit: the text coloured by its activation (blue -1, white 0, red +1)."""
    body = [f"<p>Layer {acts.layer}: each character coloured by the unit's activation after reading it "
            "(blue −1, white 0, red +1; tanh of the cell state for an LSTM, h otherwise).</p>"]
    for cell, label in rows:
        values = acts.values[:, cell]
        tips = [f"{_char(ch)}: {v:+.3f}" for ch, v in zip(acts.text, values)]
        body.append(f'<div class="row-label">{text(label)}</div>'
                    + colored_text(list(acts.text), [diverging(v) for v in values], tips))
    return Section("neurons", title, "\n".join(body))


def tracker_label(t: Tracker, layer: int) -> str:
    return f"cell {t.cell} (layer {layer}): {t.feature}, r = {t.r:+.2f}"


def gates_section(saturations: Sequence[Saturation]) -> Section:
    series = [Series(f"{s.gate} gate", list(s.left), list(s.right), points=True) for s in saturations]
    body = ("<p>Each point is one unit: how often its gate is left-saturated (below 0.1) against how often it is "
            "right-saturated (above 0.9) over the text, as in Figure 3 of Karpathy, Johnson and Fei-Fei (2015). "
            "Forget gates right-saturated most of the time are cells that remember for long.</p>"
            + chart(series, "fraction left-saturated", "fraction right-saturated"))
    return Section("gates", "Gate saturation", body)


def gradflow_section(flows: Sequence[Flow]) -> Section:
    series = [Series(f"{f.cell}, {'init' if f.stage == 'initialisation' else 'trained'}", list(range(len(f.norms))),
                     list(f.norms / f.norms[0]), dashed=f.stage == "initialisation") for f in flows]
    rows = [(f.cell, f.stage, f.reach if f.reach is not None else f"beyond {f.horizon}",
             "" if f.clipped is None else f"{f.clipped:.1%}") for f in flows]
    body = ("<p>The norm of the gradient of the last prediction of a window with respect to the state k steps "
            "earlier, relative to k = 0, averaged over windows of the text (log scale). <i>Reach</i> is the k "
            "at which it has fallen to 1%.</p>"
            + chart(series, "k: steps back", "|dL/ds| relative to k = 0", log_y=True)
            + table(["cell", "stage", "reach (steps)", "steps clipped"], rows))
    return Section("gradflow", "Gradient flow", body)


def curves_section(runs: Sequence[tuple[str, list[dict]]], x: str = "step") -> Section:
    """Training and validation loss (nats/char) of one or more runs."""
    series = []
    for name, records in runs:
        xs = [_x(r, x) for r in records]
        series.append(Series(f"{name} train", xs, [r["train_loss"] for r in records], dashed=True))
        val = [(xv, r["val_loss"]) for xv, r in zip(xs, records) if r.get("val_loss") is not None]
        if val:
            series.append(Series(f"{name} val", [v[0] for v in val], [v[1] for v in val]))
    label = {"step": "step", "time": "training time (s)", "chars": "characters read"}[x]
    return Section("curves", "Loss", chart(series, label, "nats per character",
                                           caption="Dashed: training loss (the mean since the last evaluation); "
                                                   "solid: validation loss."))


def _x(record: dict, axis: str) -> float:
    return {"step": record["step"], "time": record.get("elapsed_s", 0.0), "chars": record.get("chars", 0)}[axis]


def samples_section(samples: Sequence[tuple[float, str]]) -> Section:
    body = "".join(f"<h3>Temperature {t:g}</h3><pre class=\"sample\">{text(s)}</pre>" for t, s in samples)
    return Section("samples", "Samples", body)


def copying_section(generated: Copying, validation: Copying | None, note: str = "") -> Section:
    header = ["", *(f"{n}-grams" for n in SIZES)]
    rows = [("generated text", *(f"{generated.shares.get(n, 0):.1%}" for n in SIZES))]
    if validation is not None:
        rows.append(("validation text (copies nothing)", *(f"{validation.shares.get(n, 0):.1%}" for n in SIZES)))
    body = [f"<p>The share of n-grams found verbatim in the training text. {text(note)}</p>", table(header, rows)]
    if generated.longest:
        body.append(f"<p>The longest copied passage ({len(generated.longest.text)} characters), found at "
                    f"{text(generated.longest.where)}:</p><pre class=\"sample\">{text(generated.longest.text)}</pre>")
    return Section("novelty", "Copying", "\n".join(body))


def items_section(tally: dict[str, int], examples: Sequence[str]) -> Section:
    total = max(sum(tally.values()), 1)
    rows = [(where, count, f"{count / total:.1%}") for where, count in
            (("in the training set", tally["train"]), ("in the validation set", tally["val"]), ("new", tally["new"]))]
    return Section("novelty", "New items", table(["generated items", "count", "share"], rows)
                   + f"<p>Examples:</p><pre class=\"sample\">{text(chr(10).join(examples))}</pre>")


def facts_section(record: dict) -> Section:
    from chargen.store.record import fact_text

    rows = [(k.replace("_", " "), fact_text(k, v)) for k, v in record.items() if v is not None]
    return Section("facts", "Checkpoint", table(["", ""], rows))


def mean_activation_rows(acts: Activations, cells: Sequence[int]) -> list[tuple[int, str]]:
    return [(c, f"cell {c} (layer {acts.layer}), mean {float(np.mean(acts.values[:, c])):+.2f}") for c in cells]
