"""Quality benchmark: validation loss on tinyshakespeare after M minutes of default training.

    python bench/quality.py                       # 2.5, 5 and 10 minutes with the defaults
    python bench/quality.py --minutes 2.5 -- --hidden-size 384   # extra options go to `chargen train`
    python bench/quality.py --steps 1000 -- --precision bf16    # step for step, whatever the machine's speed

Trains with `chargen train CORPUS --minutes M` (validation = the last 10%, the standard
1,003,854 / 111,540 split) and records the final and best val loss in nats and bits per character,
in bench/results/quality.json. Wall time includes start-up, calibration and evaluations.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def run(corpus: Path, length: tuple[str, float], extra: list[str], after=None) -> dict:
    """Train with `chargen train CORPUS --LENGTH VALUE EXTRA...`; `after(run_dir)` may look at the run before
    it is deleted, and what it returns is kept as "after"."""
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "chargen", "train", str(corpus), f"--{length[0]}", f"{length[1]:g}",
                        "--checkpoint-dir", tmp, "--name", "q", "--quiet", "--sample-length", "0", *extra], check=True)
        wall = time.perf_counter() - t
        records = [json.loads(line) for line in (Path(tmp) / "q" / "metrics.jsonl").read_text().splitlines()]
        config = json.loads((Path(tmp) / "q" / "config.json").read_text())
        looked = after(Path(tmp) / "q") if after else None
    final = records[-1]
    best = min(r["val_loss"] for r in records if r["val_loss"] is not None)
    return {length[0]: length[1], "extra": extra, "steps": final["step"], "final_val_loss": final["val_loss"],
            "final_val_bpc": final["val_loss"] / math.log(2), "best_val_loss": best, "wall_s": wall,
            "model": config["model"], "train": config["train"], "after": looked,
            "curve": [{k: r[k] for k in ("step", "train_loss", "val_loss", "elapsed_s")} for r in records]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[2.5, 5.0, 10.0])
    parser.add_argument("--steps", type=int, nargs="+",
                        help="instead of time budgets: fixed step counts, to compare options step for step")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora" / "tinyshakespeare.txt")
    parser.add_argument("extra", nargs="*", help="options passed on to chargen train (after --)")
    args = parser.parse_args()
    lengths = [("steps", n) for n in args.steps] if args.steps else [("minutes", m) for m in args.minutes]
    results = [run(args.corpus, length, args.extra) for length in lengths]
    print(f"{'budget':>8}  {'steps':>6}  {'val nats':>8}  {'val bpc':>7}  {'wall':>6}  options")
    for r in results:
        budget = f"{r['minutes']:g} m" if "minutes" in r else "steps"
        print(f"{budget:>8}  {r['steps']:>6,}  {r['final_val_loss']:>8.4f}  {r['final_val_bpc']:>7.3f}  "
              f"{r['wall_s']:>5.0f}s  {' '.join(r['extra']) or 'defaults'}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "quality.json"
    previous = json.loads(out.read_text()) if out.is_file() else []
    out.write_text(json.dumps(previous + results, indent=2) + "\n")


if __name__ == "__main__":
    main()
