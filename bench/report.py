"""docs/benchmarks.md, made from the results files (bench/results/NAME.json): a section per benchmark, a row
per measurement with the machine, the date and the commit it was measured at.

    python -m bench.report            # rewrite docs/benchmarks.md (bench/common.save does after every save)
    python -m bench.report --check    # exit 1 where docs/benchmarks.md is not what the results make

A results file this module does not know gets a table of its records' scalar fields, so that a new
benchmark shows up before anyone writes its section.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bench import quality
from bench.common import RESULTS, ROOT
from chargen.units import bits

DOC = ROOT / "docs" / "benchmarks.md"
COMMAND = "python -m bench.report"
STAMP_KEYS = ("cpu", "cores", "threads", "gpu", "torch", "commit", "time")  # what bench.common.save adds
NOT_RECORDED = "not recorded"
STAMP_HEADER = ["commit", "machine", "date"]

Row = list[str]
Table = tuple[str, str]  # what it shows, in words ("" where the section says it), and the Markdown table


# -- cells ------------------------------------------------------------------------------------------

def cell(value: object) -> str:
    """A record's value as the text of one table cell: a `|` escaped and line breaks made spaces, so that
    whatever a record holds stays in its own cell."""
    if value is None:
        return "—"
    text = value if isinstance(value, str) else number(value)
    return " ".join(text.splitlines()).replace("|", "\\|") or "—"


def number(value: object) -> str:
    """Integers with thousands separators; floats to four decimals, large ones whole, tiny ones to three
    significant figures."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value != value or abs(value) >= 1000:  # nan, or large
        return f"{value:,.0f}"
    return f"{value:.3g}" if 0 < abs(value) < 0.01 else f"{value:.4f}"


def machine(r: dict) -> str:
    """The machine bench.common.save stamped on a record, in one line."""
    if not any(k in r for k in ("cpu", "gpu", "torch")):
        return NOT_RECORDED
    bf16 = {True: "bf16", False: "no bf16"}.get(r.get("cpu_bf16"))  # recorded from 2026-12-06
    parts = [r.get("cpu"), r.get("cores") and f"{r['cores']} cores", bf16,
             r.get("threads") and f"{r['threads']} threads", r.get("gpu"), r.get("torch") and f"torch {r['torch']}"]
    return ", ".join(str(p) for p in parts if p)


def date(r: dict) -> str:
    return str(r["time"]).replace("T", " ") if r.get("time") else NOT_RECORDED


def stamps(r: dict) -> Row:
    return [cell(r.get("commit") or NOT_RECORDED), cell(machine(r)), cell(date(r))]


def markdown(header: list[str], rows: Iterable[Row]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def table(about: str, header: list[str], rows: Iterable[Row]) -> Table:
    return about, markdown(header, rows)


def budget(r: dict) -> str:
    """A bench.quality run's length: its minutes, else its steps."""
    return f"{r['minutes']:g} min" if r.get("minutes") is not None else f"{r['steps']:,} steps"


def options(extra: list[str] | None) -> str:
    return cell(" ".join(extra)) if extra else "defaults"


# -- the benchmarks ---------------------------------------------------------------------------------

KINDS = {"default": "default", "grid": "grid", "option": "options given",
         "baseline": "baseline: an older checkout's default"}


def quality_tables(records: list[dict]) -> list[Table]:
    """The defaults table (bench.quality.table), then every run."""
    curated = quality.table(records, {"machine": lambda r: cell(machine(r)), "date": lambda r: cell(date(r))})
    kinds = list(KINDS)

    def key(n: int) -> tuple:
        r = records[n]
        kind = r.get("kind") or "option"
        return (r["corpus"], r.get("minutes") is None, r.get("minutes") or r["steps"],
                kinds.index(kind) if kind in kinds else len(kinds), r.get("extra") or [], n)

    every = [[str(n + 1), cell(r["corpus"]), budget(r), KINDS.get(r.get("kind") or "option", cell(r.get("kind"))),
              options(r.get("extra")), f"{r['steps']:,}", f"{r['final_val_loss']:.4f}",
              f"{r.get('final_val_bpc') or bits(r['final_val_loss']):.3f}", cell(quality.describe(r)), *stamps(r)]
             for n, r in ((n, records[n]) for n in sorted(range(len(records)), key=key))]
    return [
        ("Defaults: per corpus and budget, the latest default run beside the best alternative of its grid measured "
         "with the same code (where that code has no grid in the cell yet, the best that earlier code measured there, "
         "an alternative or a default, with its commit), and the latest baseline (what `python -m bench.quality --table` prints); "
         "the machine and the date are the default run's.", curated),
        table("Every run, by corpus and budget; # is the record's place in the results file, the later of two "
              "alike the newer. Baseline rows were measured with an older checkout of chargen, the one their commit "
              "names.",
              ["#", "corpus", "budget", "run", "options", "steps", "val nats/char (whole validation)", "bpc",
               "model and recipe", *STAMP_HEADER], every),
    ]


def speed_tables(records: list[dict]) -> list[Table]:
    shapes = list(dict.fromkeys(k for r in records for k in r.get("train", {})))
    samples = list(dict.fromkeys(k for r in records for k in r if k.startswith("sample_b")))

    def train(r: dict, shape: str) -> str:
        t = r.get("train", {}).get(shape)
        if t is None:
            return "—"
        if "speedup_over_fp32" in t:
            return f"{t['chars_per_s']:,.0f} ({t['speedup_over_fp32']:.2f}x fp32)"
        return f"{t['chars_per_s']:,.0f} ({t['of_ceiling']:.0%} of the ceiling)"

    def loop(f: dict) -> str:
        return f"{f['chargen_chars_per_s']:,.0f} vs {f['bare_chars_per_s']:,.0f} ({f['overhead']:+.1%})"

    def large(b: dict) -> str:
        return (f"{b['corpus_mb']:.0f} MB: encoding {b['encode_mb_per_s']:.0f} MB/s, peak RSS "
                f"{b['encode_peak_rss_mb']:.0f} MB; training peak RSS {b['train_peak_rss_mb']:.0f} MB")

    def index(n: dict) -> str:
        return (f"{n['corpus_mb']:.0f} MB: {n['seconds']:.1f} s, {n['distinct_ngrams']:,} hashes kept, "
                f"peak RSS {n['peak_rss_mb']:.0f} MB")

    def get(r: dict, key: str, show: Callable[[object], str]) -> str:  # a row a run left out is a dash
        return show(r[key]) if r.get(key) is not None else "—"

    training = [[get(r, "matmul_gflops", "{:,.0f}".format), *(train(r, s) for s in shapes), get(r, "full_loop", loop),
                 *stamps(r)] for r in records]
    rest = [[*(get(r, k, "{:,.0f}".format) for k in samples), get(r, "first_char_latency_ms", "{:.1f}".format),
             get(r, "help_s", "{:.3f}".format), get(r, "large_corpus", large), get(r, "ngram_index", index), *stamps(r)]
            for r in records]
    batches = [k.removeprefix("sample_b").removesuffix("_chars_per_s") for k in samples]
    return [
        table("Training: chargen's training step alone, characters per second (streams x length as the script "
              "sets them), beside the machine's matrix-product ceiling; the full loop against the bare step.",
              ["fp32 matmul GFLOP/s", *(f"train {s}, chars/s" for s in shapes), "chargen loop vs bare, chars/s",
               *STAMP_HEADER], training),
        table("Sampling, start-up and memory.",
              [*(f"sample (default model), batch {b}, chars/s" for b in batches), "first char after a prompt, ms",
               "`chargen --help`, s", "large corpus", "novelty n-gram index", *STAMP_HEADER], rest),
    ]


def gpu_tables(records: list[dict]) -> list[Table]:
    """bench.gpu saves a record per part of a run; each part gets a table, a row per measurement in it beside
    its record's device and stamps."""
    def measured(part: str) -> list[tuple[dict, dict]]:
        return [(r, m) for r in records if part in r for m in (r[part] if isinstance(r[part], list) else [r[part]])]

    def rate(v: object) -> str:  # chars/s, or what the script saved instead ("OOM")
        return f"{v:,.0f}" if isinstance(v, int | float) else cell(v)

    def tflops(t: dict) -> str:
        return f"{t['bf16'] * 6 * t['weights'] / 1e12:.1f}" if isinstance(t.get("bf16"), int | float) else "—"

    ceilings = measured("ceilings")
    kinds = list(dict.fromkeys(k for _, c in ceilings for k in c))
    sampled = [(r, s) for r, s in measured("sampling") if "path" in s]
    alone = [(r, {"model": s["model"], "path": path, "us": us})
             for r, s in measured("sampling") for path, us in s.get("step_us", {}).items()]
    parts = [
        ("Matrix-product ceilings, TFLOP/s.", kinds, ceilings, lambda c: [rate(c.get(k)) for k in kinds]),
        ("The training step, characters per second; TFLOP/s count six FLOPs per weight per character.",
         ["LSTM", "streams x length", "fp32", "tf32", "bf16", "bf16 TFLOP/s", "bf16 without the host read"],
         measured("throughput"),
         lambda t: [cell(t["model"]), f"{t['batch']} x {t['seq']}", *(rate(t.get(k)) for k in ("fp32", "tf32", "bf16")),
                    tflops(t), rate(t.get("bf16_no_read"))]),
        ("Batch-one generation through `chargen sample` in a fresh process.",
         ["model", "--device", "path", "command start to first char, s", "choosing the path, ms",
          "path ready to first char, ms", "chars/s"], sampled,
         lambda s: [cell(s["model"]), cell(s["device"]), cell(s["path"]), f"{s['from_start_to_first_s']:.2f}",
                    f"{s['choice_ms']:.0f}", f"{s['ready_to_first_ms']:.1f}", f"{s['chars_per_s']:,.0f}"]),
        ("A batch-one step of each path alone, microseconds.", ["model", "path", "µs per step"], alone,
         lambda a: [cell(a["model"]), cell(a["path"]), f"{a['us']:,.0f}"]),
        ("Validation loss after the budget, the default recipe on tinyshakespeare.",
         ["budget", "val nats/char", "bpc", "steps", "recipe"], measured("quality"),
         lambda q: [budget(q), f"{q['val_loss']:.4f}", f"{q['val_bpc']:.3f}", f"{q['steps']:,}",
                    cell(quality.describe(q))]),
        ("Alternatives to the default run of a budget, step for step.",
         ["alternative to", "options", "val nats/char", "steps", "recipe"], measured("grid"),
         lambda g: [f"{g['of_minutes']:g} min", options(g.get("extra")), f"{g['val_loss']:.4f}", f"{g['steps']:,}",
                    cell(quality.describe(g))]),
    ]
    return [table(about, ["device", *header, *STAMP_HEADER],
                  [[cell(r.get("device")), *row(m), *stamps(r)] for r, m in found])
            for about, header, found, row in parts if found]


def init_tables(records: list[dict]) -> list[Table]:
    rows = [[cell(r["cell"]), cell(r["init"]), f"{r['steps']:,}", f"{r['lr']:g}", str(r["seed"]),
             f"{r['val'][-1][1]:.4f}" if r["val"] else "—", cell(", ".join(f"{s:,}: {v:.4f}" for s, v in r["val"])),
             *stamps(r)] for r in sorted(records, key=lambda r: (r["cell"], r["init"]))]
    return [table("", ["cell", "--init", "steps", "lr", "seed", "last val nats/char",
                       "val nats/char at each evaluation", *STAMP_HEADER], rows)]


def items_tables(records: list[dict]) -> list[Table]:
    def share(t: dict, where: str) -> str:
        total = t["train"] + t["val"] + t["new"]
        return f"{t[where]:,} ({t[where] / total:.1%})" if total else "—"

    rows = [[budget(r), options(r.get("extra")), f"{r['steps']:,}", f"{r['best_val_loss']:.4f}",
             f"{bits(r['best_val_loss']):.3f}", *(share(r["after"], w) for w in ("train", "val", "new")),
             cell(", ".join(r["after"].get("examples", []))), *stamps(r)] for r in records]
    return [table("", ["budget", "options", "steps", "best val nats/char", "bpc", "sampled: in train", "in val",
                       "new", "examples", *STAMP_HEADER], rows)]


def finetune_tables(records: list[dict]) -> list[Table]:
    def run(r: dict) -> Row:
        return [f"{r['steps']:,}", f"{r['best_val_loss']:.4f} ({bits(r['best_val_loss']):.3f})"]

    rows = [[budget(r["scratch"]), options(r.get("extra")), *run(r["scratch"]), *run(r["fine_tuned"]), *stamps(r)]
            for r in records]
    return [table("", ["budget", "fine-tuning options", "from scratch: steps", "best val nats (bpc)",
                       "fine-tuned: steps", "best val nats (bpc)", *STAMP_HEADER], rows)]


def distributed_tables(records: list[dict]) -> list[Table]:
    rows = [[str(r["nproc"]), str(r["batch_per_process"]), f"{r['steps']:,}", f"{r['chars_per_s']:,.0f}",
             f"{r['val_loss']:.4f}", *stamps(r)] for r in records]
    return [table("", ["processes", "streams each", "steps", "training chars/s", "val nats/char", *STAMP_HEADER], rows)]


def export_tables(records: list[dict]) -> list[Table]:
    def page(r: dict, precision: str) -> Row:
        p = r[precision]
        return [cell(r["model"]), precision, f"{p['page_mb']:.2f}", f"{p['load_ms']:,.0f}", f"{p['first_char_ms']:.0f}",
                f"{p['chars_per_s']:,}", f"{p['step_chars_per_s']:,}", f"{r['numpy_chars_per_s']:,}", cell(p["kernel"]),
                *stamps(r)]

    speed = [page(r, precision) for r in records for precision in ("fp16", "fp32")]
    agreement = [[cell(r["model"]), f"{r['fp16_mean_abs_logit_diff']:.4f}", f"{r['fp16_max_abs_logit_diff']:.4f}",
                  f"{r['fp16_top_agreement']:.1%}", f"{r['fp16_greedy_same_chars']} of {r['greedy_chars']}", *stamps(r)]
                 for r in records if "fp16_top_agreement" in r]
    return [table("", ["model", "weights", "page MB", "load ms", "first character ms", "chars/s, buttons",
                       "chars/s, step and draw", "chars/s, chargen sample (NumPy)", "step", *STAMP_HEADER], speed),
            table("Half-precision weights against torch's model, over its greedy text (teacher forcing):",
                  ["model", "mean abs logit difference", "largest", "same likeliest character",
                   "greedy text the same for", *STAMP_HEADER], agreement)]


def serve_tables(records: list[dict]) -> list[Table]:
    rows = [[cell(r["model"]), str(load["clients"]), f"{load['chars_each']:,}", f"{load['chars_per_s']:,}",
             f"{load['speedup']:.2f}x", number(load["first_char_p50_ms"]), number(load["first_char_p99_ms"]),
             str(load["errors"]), f"{load['engine_chars_per_s']:,}" if "engine_chars_per_s" in load else "—", *stamps(r)]
            for r in records for load in r["loads"]]
    return [table("", ["model", "clients", "chars each", "chars/s, all clients", "of one client", "first character p50 ms",
                       "p99 ms", "errors", "chars/s, the engine alone", *STAMP_HEADER], rows)]


def stability_tables(records: list[dict]) -> list[Table]:
    series = [[f"`{r['command']}`", str(len(r["runs"])), "yes" if r["same_recipe"] else "**no**",
               f"{r['spread']:.4f}", f"{r['least_budget_used']:.1%}", *stamps(r)] for r in records]
    runs = [[f"`{r['command']}`", str(i), run["recipe"], run["plan"], f"{run['probe'].get('fp32', 0):,.0f}",
             f"{run['steps']:,}", run.get("pace", "—"), f"{run['trained_s']:.0f} s ({run['budget_used']:.1%})",
             f"{run['final_val_loss']:.4f}", *stamps(r)] for r in records for i, run in enumerate(r["runs"], 1)]
    return [table("", ["command", "runs", "one recipe", "spread of the final val nats/char", "least of the budget trained",
                       *STAMP_HEADER], series),
            table("Each run: the recipe it chose, whether it measured the machine afresh or planned from the speeds "
                  "kept by the first run, its own speed probe of the reference model, and what it made of the time: "
                  "its steps, and whether it trained the last run's schedule again (kept) or let it go for its own speed "
                  "(re-aimed; a run from before schedules were kept shows —):",
                  ["command", "run", "recipe", "plan", "probe, fp32 chars/s", "steps", "last run's schedule",
                   "trained", "final val nats/char", *STAMP_HEADER], runs)]


def dynamic_tables(records: list[dict]) -> list[Table]:
    rows = [[r["corpus"], budget(r), f"{r['steps']:,}", f"{r['static_bpc']:.3f}", f"{r['dynamic_bpc']:.3f}",
             f"{r['dynamic_gain_nats']:.3f}", f"{r['lr']:g}, {r['decay']:g}", f"{r['seconds_per_mb']:,.0f}",
             f"{r['xz_bpc']:.3f}", f"{r['bz2_bpc']:.3f}", f"{r['order2_bpc']:.3f}", f"{r['fewer_bits_than_xz']:.0%}",
             *stamps(r)] for r in records]
    return [table("", ["corpus", "trained", "steps", "model bits/char", "dynamic evaluation", "nats/char lower",
                       "learning rate, decay", "s per MB", "xz", "bz2", "order-2", "fewer bits than xz",
                       *STAMP_HEADER], rows)]


def generic_tables(records: list[dict]) -> list[Table]:
    """Any records: a column per scalar field (nested ones stay in the results file)."""
    scalar = (str, int, float, bool, type(None))
    keys = list(dict.fromkeys(k for r in records for k, v in r.items()
                              if k not in STAMP_KEYS and isinstance(v, scalar)))
    rows = [[cell(r.get(k)) if isinstance(r.get(k), scalar) else "—" for k in keys] + stamps(r) for r in records]
    return [table("", [cell(k) for k in keys] + STAMP_HEADER, rows)]


@dataclass(frozen=True)
class Benchmark:
    title: str
    command: str
    about: str  # what is measured, in words: every figure is in the tables
    tables: Callable[[list[dict]], list[Table]] = generic_tables


BENCHMARKS = {
    "quality": Benchmark(
        "Quality", "python -m bench.quality --suite",
        "Validation loss after `chargen train CORPUS --minutes M` with everything else left to the time-budget "
        "recipe, on the corpora of bench/corpora.py: nats (and bits) per character over the whole held-out "
        "validation text. Each default run is followed by its grid, the same budget with one choice of the recipe "
        "changed, to show how far the default is from the best found.", quality_tables),
    "speed": Benchmark(
        "Speed and memory", "python -m bench.speed",
        "Every figure measured in one run beside its reference: the throughput of chargen's training step alone "
        "for LSTM and GRU stacks against the machine's matrix-product ceiling, the full training loop against "
        "that step, sampling speed, the first character after a prompt, `chargen --help`, and the memory and "
        "speed of encoding a large generated corpus and indexing it for novelty. Every time is the median of "
        "several calls.", speed_tables),
    "gpu": Benchmark(
        "GPU", "python -m bench.gpu",
        "On a GPU: the matrix-unit ceilings, the training step's speed per model, streams and arithmetic, "
        "batch-one generation through `chargen sample` per `--device`, and validation loss after a time budget "
        "with the default recipe and alternatives step for step. A record holds one part of a run; its "
        "measurements are rows of that part's table.", gpu_tables),
    "init": Benchmark(
        "Initialisation", "python -m bench.init",
        "Which weight initialisation learns fastest for each cell: the same model, data, steps and seed, only "
        "`--init` differing; the validation loss at each evaluation.", init_tables),
    "items": Benchmark(
        "Line mode", "python -m bench.items",
        "`chargen train --lines` on a list of US first names for a time budget: the best validation loss, and "
        "where the names sampled from best.pt are found, as makemore counts them: in the training set, in the "
        "validation set, or new.", items_tables),
    "finetune": Benchmark(
        "Fine-tuning", "python -m bench.finetune",
        "Fine-tuning against training from scratch on a small text (the book of Proverbs), the same budget for "
        "both: the parent is what README's first command trains; the steps and best validation loss of each.",
        finetune_tables),
    "distributed": Benchmark(
        "Several processes", "python -m bench.distributed",
        "One process against several on one machine, the same global batch split among them and the same steps: "
        "training characters per second from the run's own clock (start-up excluded), and the validation loss "
        "reached.", distributed_tables),
    "startup": Benchmark(
        "Start-up", "python -m bench.startup",
        "Wall seconds, medians of fresh processes: from starting `chargen sample -c RUN` for one character and "
        "`chargen info -c RUN` to their exit, and `chargen repl -c RUN` to its prompt, beside `python -c "
        "\"import numpy\"` in the same run (an LSTM of two layers, read from best.safetensors without torch); "
        "and sampling speed, one sequence at a time, from best.safetensors and from best.pt."),
    "export": Benchmark(
        "The exported page", "python -m bench.export",
        "`chargen export -o model.html` pages of two LSTMs in headless Chromium, medians of five loads each: the "
        "page's size, the time from navigation to ready, from the click on Generate to the first character on the "
        "page, and characters/s for a few thousand characters through the buttons (drawing every character "
        "included) and for the step and draw alone; beside them chargen's own NumPy sampler in the same run. Then "
        "how far half-precision weights move the smaller model's logits.", export_tables),
    "serve": Benchmark(
        "Serving", "python -m bench.serve",
        "`chargen serve` on loopback, streaming clients starting together, each asking the same number of characters "
        "of a two-layer LSTM: the total characters/s, that against one client's in the same run, the time from each "
        "request to its first character, and failed requests; beside them the ceiling, chargen.serve.engine "
        "stepping as many streams in one process with no HTTP.", serve_tables),
    "stability": Benchmark(
        "Same command, same recipe", "python -m bench.stability",
        "One time-budget command run several times in a row on one machine, the runs sharing a plan cache fresh for "
        "the series: whether they chose one recipe and trained the same steps, how far apart their final validation "
        "losses (over the whole held-out text) are, and how much of the budget each trained for.", stability_tables),
    "dynamic": Benchmark(
        "What a loss means, and dynamic evaluation", "python -m bench.dynamic",
        "`chargen train CORPUS --minutes M` with a fixed seed, then `chargen eval --dynamic` on the corpus's held-out split: "
        "the model's bits/char as trained and with dynamic evaluation (a copy learning from each short "
        "segment after predicting it; learning rate and decay chosen on the training text's end), the seconds "
        "that took per MB, and the same text under the standard compressors and an add-one "
        "order-two character model of the training text.", dynamic_tables),
    "shift": Benchmark(
        "Distribution shift", "python -m bench.shift",
        "How unlike its training text each benchmark corpus's validation text is (chargen.data.shift): the shift, "
        "the figure the time-budget recipe gives dropout by, beside the bigram cross-entropies it is the "
        "difference of."),
}


# -- the page ---------------------------------------------------------------------------------------

def section(name: str, records: list[dict]) -> str:
    known = BENCHMARKS.get(name)
    if known is None:
        script = (ROOT / "bench" / f"{name}.py").is_file()
        known = Benchmark(name, f"python -m bench.{name}" if script else f"bench/results/{name}.json",
                          f"bench/report.py does not know this benchmark: a column per scalar field of its records, "
                          f"as saved in bench/results/{name}.json.")
    try:
        tables = known.tables(records) if records else []
    except (KeyError, TypeError, IndexError, ValueError) as e:  # a script's records changed shape: still show them
        tables = [(f"These records lack what bench/report.py reads for this benchmark ({type(e).__name__}: "
                   f"{cell(str(e))}): a column per scalar field.", generic_tables(records)[0][1])]
    parts = [f"## {known.title}: `{known.command}`", known.about]
    if not records:
        parts.append("No records yet.")
    for about, text in tables:
        parts += [about, text] if about else [text]
    return "\n\n".join(parts)


def results_files(results: Path) -> dict[str, list[dict]]:
    """Every NAME.json in `results`: known benchmarks in BENCHMARKS' order, then the rest by name."""
    found = {p.stem: p for p in results.glob("*.json") if p.is_file()}
    names = [n for n in BENCHMARKS if n in found] + sorted(n for n in found if n not in BENCHMARKS)
    loaded = {n: json.loads(found[n].read_text()) for n in names}
    return {n: [r for r in (v if isinstance(v, list) else [v]) if isinstance(r, dict)] for n, v in loaded.items()}


def render(results: Path = RESULTS) -> str:
    """The whole page from the results files in `results`; the same files make the same page."""
    head = ("# Benchmarks\n\n"
            f"<!-- Generated by `{COMMAND}` from bench/results/*.json; bench/common.save rewrites it after every "
            "save. Edit bench/report.py, not this file. -->\n\n"
            "Every figure here comes from a record in bench/results/, the file named in each section. Each row "
            "names the commit of chargen/ it was measured with (+changes where the working tree differed from it), "
            f"the machine and the date; \"{NOT_RECORDED}\" where a record is older than those stamps.")
    sections = [section(name, records) for name, records in results_files(results).items()]
    return "\n\n".join([head, *sections]) + "\n"


def write(results: Path = RESULTS, doc: Path = DOC) -> bool:
    """Rewrite `doc` from `results`; whether it changed."""
    text = render(results)
    if doc.is_file() and doc.read_text(encoding="utf-8") == text:
        return False
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")
    return True


def main(argv: list[str] | None = None, results: Path = RESULTS, doc: Path = DOC) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 where the page is not what the results make")
    args = parser.parse_args(argv)
    if args.check:
        if not doc.is_file() or doc.read_text(encoding="utf-8") != render(results):
            shown = doc.relative_to(ROOT) if doc.is_relative_to(ROOT) else doc
            print(f"{shown} is not what the results files make: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    print(f"{doc} {'rewritten' if write(results, doc) else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
