"""Quality benchmark: validation loss after M minutes of `chargen train` on several kinds of text.

    python -m bench.quality                                  # tinyshakespeare at 2.5, 5 and 10 minutes
    python -m bench.quality --corpus cantonese --minutes 5 -- --hidden-size 384   # options for chargen train
    python -m bench.quality --steps 1000 -- --precision bf16  # step for step, whatever the machine's speed
    python -m bench.quality --suite                          # every corpus x budget: the default and its grid
    python -m bench.quality --suite --corpora small-verse --minutes 2.5 --grid 0
    python -m bench.quality --suite --corpora cantonese --minutes 10 --grid-only wider --reuse-default   # one more alternative
    python -m bench.quality --suite --baseline /path/to/other/checkout --grid 0   # another chargen's default
    python -m bench.quality --table                          # the defaults table of docs/benchmarks.md

Each run is `chargen train CORPUS --minutes M` with everything else left to the time-budget recipe
(plus the options given); validation is the corpus's last 10%, evaluated over the whole of it (where
the run's own evaluations read a part of a large validation text, the benchmark evaluates the last
checkpoint over all of it afterwards, outside the timed budget). The
corpora are built by bench/corpora.py. With --suite, each default run is followed by its grid: the
same budget with one choice of the recipe changed (a narrower and a wider model, more and less
dropout, half and twice the learning rate, a layer more and one fewer, twice and half the streams; then AWD-LSTM's
weight-drop, locked dropout and input dropout, windows twice as long, and the recipe's weight decay taken away
(or 0.1 given where it has none), each on the default's recipe as it chose it (width, depth, dropout, streams,
rate, arithmetic, weight decay and passes given explicitly); --grid takes the first N,
--grid-only names them), so the table shows how far the default is from the best found. Wall time
includes start-up, the recipe's measurements and every evaluation. Results are appended to
bench/results/quality.json (bench/common.py), docs/benchmarks.md made from them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bench import common, corpora
from bench.common import ROOT, commit_of
from chargen.data.corpus import load_corpus
from chargen.data.streams import EVAL_SEQ_LEN, eval_windows
from chargen.model.charrnn import CharRNN
from chargen.store.checkpoint import load_checkpoint
from chargen.train.loss import loss_sum
from chargen.units import bits

BUDGETS = (2.5, 5.0, 10.0)
WIDTHS = (128, 192, 256, 384, 512, 768)
GRID_ORDER = ("narrower", "wider", "more-dropout", "less-dropout", "half-lr", "double-lr", "deeper", "shallower",
              "more-streams", "fewer-streams", "weight-drop", "locked-dropout", "input-dropout", "longer-bptt",
              "weight-decay")


def run(corpus: Path, length: tuple[str, float], extra: list[str], after=None, chargen_root: Path | None = None) -> dict:
    """Train with `chargen train CORPUS --LENGTH VALUE EXTRA...`; `after(run_dir)` may look at the run before
    it is deleted, and what it returns is kept as "after". `chargen_root` runs another checkout's chargen."""
    env = {**os.environ, "PYTHONPATH": str(chargen_root)} if chargen_root else None
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        # `python -m` puts the working directory first on the path, ahead of PYTHONPATH: run from the
        # other checkout, or this one's chargen is what runs.
        subprocess.run([sys.executable, "-m", "chargen", "train", str(corpus.resolve()), f"--{length[0]}", f"{length[1]:g}",
                        "--checkpoint-dir", tmp, "--name", "q", "--quiet", "--sample-length", "0", *extra], check=True,
                       env=env, cwd=chargen_root)
        wall = time.perf_counter() - t
        records = [json.loads(line) for line in (Path(tmp) / "q" / "metrics.jsonl").read_text().splitlines()]
        config = json.loads((Path(tmp) / "q" / "config.json").read_text())
        looked = after(Path(tmp) / "q") if after else None
        final = records[-1]
        final_loss, best = final["val_loss"], min(r["val_loss"] for r in records if r["val_loss"] is not None)
        if config["train"].get("eval_chars"):  # the run evaluated a part: measure the whole, as for every run
            final_loss, best = whole_validation_loss(Path(tmp) / "q" / "latest.pt", corpus, config["train"]), None
    return {length[0]: length[1], "corpus": corpus.stem, "extra": extra, "steps": final["step"],
            "commit": commit_of(chargen_root or ROOT),
            "final_val_loss": final_loss, "final_val_bpc": bits(final_loss), "part_val_loss": final["val_loss"],
            "best_val_loss": best, "wall_s": wall, "model": config["model"], "train": config["train"], "after": looked,
            "curve": [{k: r.get(k) for k in ("step", "train_loss", "val_loss", "elapsed_s")} for r in records]}


def whole_validation_loss(checkpoint: Path, corpus: Path, train: dict) -> float:
    """Nats/char over the whole validation text, the state carried from window to window, laid out as the
    run's own evaluations lay it out (its streams, windows of its seq_len or EVAL_SEQ_LEN if longer)."""
    saved = load_checkpoint(checkpoint)
    _, val = load_corpus([str(corpus)], vocab=saved.vocab).split(train["val_fraction"])
    windows = eval_windows(val, train["batch_size"], max(train["seq_len"], EVAL_SEQ_LEN))
    total, count = loss_sum(CharRNN.trained(saved.model_config, saved.weights), windows, torch.device("cpu"),
                            carry_state=True)
    return total / count


def recipe_options(r: dict) -> list[str]:
    """The options of chargen train that fix the recipe a run chose: its model, streams, rate, arithmetic and,
    where the recipe stopped it early, its passes (a run given its model never stops early by itself)."""
    model, train = r["model"], r["train"]
    passes = [f"--epochs={train['epochs']:g}"] if train.get("epochs") else []
    decay = [f"--weight-decay={train['weight_decay']:g}"] if train.get("weight_decay") else []
    return [f"--hidden-size={model['hidden_size']}", f"--layers={model['layers']}", f"--dropout={model['dropout']:g}",
            f"--batch-size={train['batch_size']}", f"--lr={train['lr']:g}", f"--precision={train.get('precision', 'fp32')}",
            *decay, *passes]


def grid(default: dict, size: int, only: list[str] | None = None) -> list[list[str]]:
    """Alternatives to a default run: one choice of its recipe changed each, in GRID_ORDER; the first
    `size` of them, or those named in `only`."""
    model, train = default["model"], default["train"]
    width, layers, streams = model["hidden_size"], model["layers"], train["batch_size"]
    recipe = recipe_options(default)
    changed = {  # one choice each, the rest left to the recipe
        "narrower": [f"--hidden-size={max(w for w in WIDTHS if w < width)}"] if width > WIDTHS[0] else [],
        "wider": [f"--hidden-size={min(w for w in WIDTHS if w > width)}"] if width < WIDTHS[-1] else [],
        "more-dropout": [f"--dropout={min(model['dropout'] + 0.1, 0.5):g}"],
        "less-dropout": [f"--dropout={model['dropout'] - 0.1:g}"] if model["dropout"] > 0 else [],
        "half-lr": [f"--lr={train['lr'] / 2:g}"],
        "double-lr": [f"--lr={train['lr'] * 2:g}"],
        # A depth at the default's width (given alone, --layers would take the recipe's reference width).
        "deeper": [f"--layers={layers + 1}", f"--hidden-size={width}"],
        "shallower": [f"--layers={layers - 1}", f"--hidden-size={width}"] if layers > 1 else [],
        # The recipe times the streams given and sets the learning rate to suit them.
        "more-streams": [f"--batch-size={streams * 2}"],
        "fewer-streams": [f"--batch-size={streams // 2}"] if streams > 1 else [],
    }
    # A run given its model or dropout never stops early by itself: where the default stopped after its
    # passes, so do the alternatives, or they compare a text learned by heart with one that was not.
    cap = [f"--epochs={train['epochs']:g}"] if train.get("epochs") else []
    named = {name: [*options, *cap] if options else [] for name, options in changed.items()}
    named.update({
        # AWD-LSTM's regularisers (chargen.model.regularisation) and longer windows, each added to the default's
        # recipe as it chose it: left to plan again, a run can pick another width, and the cell compares two recipes.
        "weight-drop": ["--weight-drop=0.2", *recipe],
        "locked-dropout": ["--locked-dropout", *recipe] if model["dropout"] > 0 else [],
        "input-dropout": ["--input-dropout=0.1", *recipe],
        "longer-bptt": [f"--seq-len={train['seq_len'] * 2}", *recipe],
        # The recipe's weight decay taken away, or where it has none, AdamW's usual 0.1 given.
        "weight-decay": [*(o for o in recipe if not o.startswith("--weight-decay=")),
                         "--weight-decay=0" if train.get("weight_decay") else "--weight-decay=0.1"],
    })
    chosen = only if only is not None else GRID_ORDER
    options = [named[name] for name in chosen if named[name]]
    return options if only is not None else options[:size]


def saved_default(corpus: str, length: tuple[str, float]) -> dict | None:
    """The last saved default run of `corpus` for `length`, measured with this checkout's code."""
    code = commit_of(ROOT)
    same = [r for r in common.load("quality") if r.get("kind") == "default" and r["corpus"] == corpus
            and r.get(length[0]) == length[1] and r.get("commit") == code]
    return same[-1] if same else None


def describe(r: dict) -> str:
    m, t = r["model"], r["train"]
    shape = f"{t['batch_size']} x {t['seq_len']}"
    return (f"{m['cell']} {m['layers']}x{m['hidden_size']}, dropout {m['dropout']:g}, batch {shape}, "
            f"lr {t['lr']:g}{', bf16' if t.get('precision') == 'bf16' else ''}"
            + (f", weight decay {t['weight_decay']:g}" if t.get("weight_decay") else "")
            + (f", stopped after {t['minutes']:.1f} min" if t.get("minutes", r.get("minutes")) != r.get("minutes") else "")
            + (f", stops after {t['epochs']:g} passes" if t.get("epochs") and t.get("minutes") else "")
            + (f", evaluations read {t['eval_chars'] / 1e3:.0f}K" if t.get("eval_chars") else ""))


def table(results: list[dict], stamps: dict[str, Callable[[dict], str]] | None = None) -> str:
    """The defaults table (docs/benchmarks.md): per corpus and budget, the default, today's baseline and the best of the grid.
    `stamps` adds a column per name, its cells what the function makes of the default run (bench/report.py
    adds the machine and the date this way)."""
    stamps = stamps or {}
    cells: dict[tuple[str, float], dict] = {}
    for r in results:
        kind = r.get("kind") or "option"
        if "minutes" not in r or kind == "option":  # runs with options of their own are not the recipe's
            continue
        cell = cells.setdefault((r["corpus"], r["minutes"]), {"grid": [], "defaults": [], "pinned": {}})
        if kind == "grid":
            cell["grid"].append(r)
            # The recipe a grid run was given with its one change: the default run it followed.
            cell["pinned"][id(r)] = recipe_options(cell["default"]) if "default" in cell else []
        else:
            cell[kind] = r  # the latest of each kind wins
            if kind == "default":
                cell["defaults"].append(r)
    lines = ["| corpus | budget | default: val nats (bpc) | steps | chosen recipe | best of the grid | "
             "default − best | before this change | measured at |" + "".join(f" {name} |" for name in stamps),
             "|---|---|---|---|---|---|---|---|---|" + "---|" * len(stamps)]
    for (corpus, minutes), cell in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        d = cell.get("default")
        if d is None:
            continue
        loss = d["final_val_loss"]
        # The default's own alternatives; where its code has none yet, the best that earlier code found in this
        # cell (an alternative or an earlier default), named by its commit, so a default that fell behind a
        # recipe once measured here shows it.
        same_code = [r for r in cell["grid"] if r.get("commit") == d.get("commit")]
        earlier = [r for r in cell["grid"] + cell["defaults"] if r.get("commit") != d.get("commit")]
        best = min(same_code or earlier, key=lambda r: r["final_val_loss"], default=None)
        if best is None:
            best_text = "—"
        elif best.get("kind") == "default":
            best_text = f"{best['final_val_loss']:.4f} (the default at {best.get('commit', 'earlier')})"
        else:
            changed = [o for o in best["extra"] if o not in cell["pinned"][id(best)]]  # not the pinned recipe
            at = "" if same_code else f", at {best.get('commit', 'earlier')}"
            best_text = f"{best['final_val_loss']:.4f} ({' '.join(changed)}{at})"
        gap = f"{loss - min(loss, best['final_val_loss']):+.4f}" if best else "—"
        before = cell.get("baseline")
        before_text = f"{before['final_val_loss']:.4f}" if before else "—"
        kept = d.get("best_val_loss") or loss  # best.pt, what `chargen sample` uses, when it is not the last
        kept_text = f"; best.pt {kept:.4f}" if kept < loss - 5e-4 else ""
        lines.append(f"| {corpus} | {minutes:g} min | {loss:.4f} ({bits(loss):.3f}){kept_text} | "
                     f"{d['steps']:,} | {describe(d)} | {best_text} | {gap} | {before_text} | {d.get('commit', 'earlier')} |"
                     + "".join(f" {stamp(d)} |" for stamp in stamps.values()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=list(BUDGETS))
    parser.add_argument("--steps", type=int, nargs="+",
                        help="instead of time budgets: fixed step counts, to compare options step for step")
    parser.add_argument("--corpus", default="tinyshakespeare", help="a bench/corpora.py name or a file")
    parser.add_argument("--suite", action="store_true", help="every corpus (or --corpora), the default and its grid")
    parser.add_argument("--corpora", nargs="+", default=list(corpora.CORPORA))
    parser.add_argument("--grid", type=int, default=4, help="grid runs after each default run (--suite)")
    parser.add_argument("--grid-only", nargs="+", choices=GRID_ORDER, metavar="ALTERNATIVE",
                        help=f"run these alternatives instead of the first --grid ones: {', '.join(GRID_ORDER)}")
    parser.add_argument("--reuse-default", action="store_true",
                        help="--suite: follow the last saved default run of the same corpus, budget and code, if any")
    parser.add_argument("--baseline", type=Path, help="run this checkout's chargen instead, labelled baseline")
    parser.add_argument("--table", action="store_true", help="print the table from the saved results and stop")
    parser.add_argument("extra", nargs="*", help="options passed on to chargen train (after --)")
    args = parser.parse_args()
    if args.table:
        print(table(common.load("quality")))
        return
    names = args.corpora if args.suite else [args.corpus]
    for name in names:
        corpus = Path(name) if Path(name).is_file() else corpora.get(name)
        lengths = [("steps", n) for n in args.steps] if args.steps else [("minutes", m) for m in args.minutes]
        for length in lengths:
            kind = "baseline" if args.baseline else ("default" if not args.extra else "option")
            first = saved_default(corpus.stem, length) if args.reuse_default else None
            if first is None:
                first = {**run(corpus, length, args.extra, chargen_root=args.baseline), "kind": kind}
                report(first)
                common.save("quality", [first])
            if args.suite and not args.baseline:
                for options in grid(first, args.grid, args.grid_only):
                    alternative = {**run(corpus, length, [*args.extra, *options]), "kind": "grid"}
                    report(alternative)
                    common.save("quality", [alternative])


def report(r: dict) -> None:
    budget = f"{r['minutes']:g} m" if "minutes" in r else f"{r['steps']} steps"
    print(f"{r['corpus']:>16} {budget:>8}  {r.get('kind', ''):>8}  {r['steps']:>6,}  {r['final_val_loss']:>8.4f}  "
          f"{bits(r['final_val_loss']):>6.3f}  {r['wall_s']:>5.0f}s  {' '.join(r['extra']) or 'defaults'}  "
          f"[{describe(r)}]", flush=True)


if __name__ == "__main__":
    main()
