"""Same command, same recipe: one time-budget command run several times on one machine, and how far apart the
recipes it chose, the training time they used and the validation losses they reached are.

    python -m bench.stability                                      # tinyshakespeare --minutes 10 --seed 1, 3 runs
    python -m bench.stability --corpus bundled --minutes 5 --seed none   # README's first command: chargen train
    python -m bench.stability --corpus small-verse --minutes 2.5

The runs of a series share one plan cache (CHARGEN_CACHE_DIR), fresh for the series, as one machine's runs
share their user's: the first measures the machine and keeps its plan; the later ones probe again and plan
from the kept speeds while the probe is within the machine's spread (chargen.train.plans). Each loss is over
the whole held-out validation text (bench.quality.run). Results: bench/results/stability.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from bench import common, corpora, quality
from bench.common import ROOT
from chargen.train.plans import FILE


def corpus_path(name: str) -> Path:
    """A bench/corpora.py name, "bundled" (what `chargen train` reads when given no corpus) or a file."""
    if name == "bundled":
        return ROOT / "corpora" / "shakespeare.txt"
    return Path(name) if Path(name).is_file() else corpora.get(name)


def kept_plan(cache: Path) -> dict:
    """The plan the series' last run kept: when its speeds were measured, that run's own probe, and where the
    schedule it leaves for the next run ends (chargen.train.plans.Pace)."""
    try:
        plans = json.loads((cache / FILE).read_text())
    except FileNotFoundError:  # before the first run
        return {}
    plan = list(plans.values())[-1]  # the one written last
    schedule = plan.get("schedule")
    return {"plan_made": plan["made"], "probe": plan["last_probe"], "pace_steps": schedule[-1][1] if schedule else None}


def series(corpus: Path, minutes: float, seed: str, runs: int) -> dict:
    extra = [] if seed == "none" else ["--seed", seed]
    done = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["CHARGEN_CACHE_DIR"] = cache  # the training subprocesses inherit it
        for i in range(runs):
            pace = kept_plan(Path(cache)).get("pace_steps")
            r = quality.run(corpus, ("minutes", minutes), extra)
            r.update(kept_plan(Path(cache)))
            trained = r["curve"][-1]["elapsed_s"]
            done.append({"recipe": quality.describe(r), "steps": r["steps"], "trained_s": trained,
                         "budget_used": trained / (minutes * 60), "final_val_loss": r["final_val_loss"],
                         "best_val_loss": r["best_val_loss"], "wall_s": r["wall_s"], "probe": r["probe"],
                         "plan": "measured" if i == 0 or r["plan_made"] != done[-1]["plan_made"] else "kept",
                         "plan_made": r["plan_made"], "model": r["model"], "train": r["train"],
                         # the last run's schedule: trained again (kept), or let go for this run's speed
                         "pace": "none" if pace is None else "kept" if r["steps"] == pace else "re-aimed"})
            print(f"run {i + 1}: {done[-1]['recipe']}, {r['steps']:,} steps, trained {trained:.0f} s "
                  f"({done[-1]['budget_used']:.1%} of the budget), val {r['final_val_loss']:.4f}, "
                  f"probe {r['probe']}, plan {done[-1]['plan']}, pace {done[-1]['pace']}", flush=True)
    losses = [r["final_val_loss"] for r in done]
    return {"corpus": corpus.stem if corpus.stem != "shakespeare" else "bundled", "minutes": minutes, "seed": seed,
            "command": " ".join(["chargen train", corpus.name, f"--minutes {minutes:g}", *extra]),
            "runs": done, "same_recipe": len({r["recipe"] for r in done}) == 1,
            "spread": max(losses) - min(losses), "least_budget_used": min(r["budget_used"] for r in done)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="tinyshakespeare")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", default="1", help='passed as --seed; "none" leaves it out')
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    result = series(corpus_path(args.corpus), args.minutes, args.seed, args.runs)
    print(f"{result['command']}: same recipe {result['same_recipe']}, spread {result['spread']:.4f} nats, "
          f"least budget used {result['least_budget_used']:.1%}")
    common.save("stability", [result])


if __name__ == "__main__":
    main()
