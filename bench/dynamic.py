"""What a loss means, and what dynamic evaluation adds: for each benchmark corpus, `chargen train CORPUS
--minutes M --seed 1`, then `chargen eval --dynamic --json` on its held-out text (the corpus's last 10%).

    python -m bench.dynamic                                   # the five benchmark corpora, 10 minutes each
    python -m bench.dynamic --corpora tinyshakespeare --minutes 2.5

Each record holds the model's bits/char on the held-out text as trained (static, the state carried from
its first character to its last) and with dynamic evaluation (chargen.train.dynamic: learning rate and
decay chosen on the training text's end), the seconds that took per MB scored, and the same text's
bits/char under xz, bz2 and an add-one order-2 model of the training text (chargen.data.baselines).
Results: bench/results/dynamic.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import common, corpora, quality
from chargen.data.corpus import load_corpus

FIVE = ("tinyshakespeare", "small-verse", "large-prose", "python-code", "cantonese")


def held_out(corpus: Path, folder: Path, val_fraction: float = 0.1) -> Path:
    """The corpus's validation text (as `chargen train` cuts it) in a file of its own."""
    text = load_corpus([str(corpus)])
    _, val = text.split(val_fraction)
    path = folder / f"{corpus.stem}-held-out.txt"
    path.write_text(text.vocab.decode(val), encoding="utf-8")
    return path


def evaluate(run_dir: Path, text: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "chargen", "eval", "-c", str(run_dir / "best.safetensors"), str(text),
                          "--dynamic", "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def measure(name: str, minutes: float) -> dict:
    corpus = corpora.get(name)
    with tempfile.TemporaryDirectory() as folder:
        text = held_out(corpus, Path(folder))
        trained = quality.run(corpus, ("minutes", minutes), ["--seed", "1"], after=lambda run: evaluate(run, text))
    record, dynamic = trained["after"], trained["after"]["dynamic"]
    found = record["baselines_bpc"]
    return {"corpus": name, "minutes": minutes, "steps": trained["steps"], "recipe": quality.describe(trained),
            "chars": record["chars"], "static_bpc": record["bpc"], "dynamic_bpc": dynamic["bpc"],
            "dynamic_gain_nats": record["loss_nats"] - dynamic["loss_nats"], "lr": dynamic["lr"],
            "decay": dynamic["decay"], "seconds": dynamic["seconds"], "seconds_per_mb": dynamic["seconds_per_mb"],
            "xz_bpc": found["xz"], "bz2_bpc": found["bz2"], "order2_bpc": found["order2"],
            "fewer_bits_than_xz": record["fewer_bits_than_xz"], "grid": dynamic["grid"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", nargs="+", default=list(FIVE))
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    for name in args.corpora:
        r = measure(name, args.minutes)
        print(f"{name:>16} {args.minutes:g} min: static {r['static_bpc']:.3f} bpc, dynamic {r['dynamic_bpc']:.3f} "
              f"({r['dynamic_gain_nats']:.3f} nats/char lower; lr {r['lr']:g}, decay {r['decay']:g}; "
              f"{r['seconds_per_mb']:.0f} s/MB), xz {r['xz_bpc']:.3f}, bz2 {r['bz2_bpc']:.3f}, order-2 "
              f"{r['order2_bpc']:.3f}: {r['fewer_bits_than_xz']:.0%} fewer bits than xz", flush=True)
        common.save("dynamic", [r])


if __name__ == "__main__":
    main()
