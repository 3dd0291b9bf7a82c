"""Line mode on a real list of names: validation loss, and how many generated names are new.

    python -m bench.items                    # 1 and 2.5 minutes on 5,494 US first names
    python -m bench.items --minutes 5 -- --dropout 0.2

`chargen train first-names.txt --lines --minutes M` (bench/corpora.py: the `names==0.3.0` package's
1990 US Census lists, one lower-case name a line; 10% of the names held out at random), then 1,000
names sampled at temperature 1, counted as makemore does: in the training set, in the validation set,
or new. Results are appended to bench/results/items.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import common, corpora
from bench.quality import run

SAMPLES = 1000


def tally(run_dir: Path) -> dict:
    from chargen.config import SamplingSettings
    from chargen.generate.sample import generate_items, sampler_for
    from chargen.store.checkpoint import load_checkpoint
    from chargen.views.novelty import ItemSets

    saved = load_checkpoint(run_dir / "best.pt")
    sampler = sampler_for(saved, SamplingSettings(1.0), seed=0, batch_size=SAMPLES)
    items = generate_items(sampler, max_length=50)
    counts = ItemSets.of(saved).tally(items)
    return {**counts, "examples": items[:12]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 2.5])
    parser.add_argument("extra", nargs="*", help="options passed on to chargen train (after --)")
    args = parser.parse_args()
    names = corpora.get("first-names")
    results = [run(names, ("minutes", m), ["--lines", *args.extra], after=tally) for m in args.minutes]
    print(f"{names.name}: {sum(1 for _ in names.open()):,} names; {SAMPLES:,} sampled at temperature 1 from best.pt")
    print(f"{'budget':>7}  {'steps':>6}  {'best val nats':>13}  {'in train':>8}  {'in val':>6}  {'new':>5}  options")
    for r in results:
        t = r["after"]
        print(f"{r['minutes']:>5g} m  {r['steps']:>6,}  {r['best_val_loss']:>13.4f}  {t['train'] / SAMPLES:>8.1%}  "
              f"{t['val'] / SAMPLES:>6.1%}  {t['new'] / SAMPLES:>5.1%}  {' '.join(r['extra']) or 'defaults'}")
        print(f"         e.g. {', '.join(t['examples'])}")
    common.save("items", results)


if __name__ == "__main__":
    main()
