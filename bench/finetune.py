"""Fine-tuning against training from scratch: the same small text, the same minute.

    python -m bench.finetune                       # trains the parent first (5 minutes, bundled corpus)
    python -m bench.finetune --parent checkpoints/shakespeare-...   # or starts from a run you have
    python -m bench.finetune -- --lr 5e-4          # extra options for the fine-tuning run

The parent is what README's first command trains: `chargen train --minutes 5` on the bundled
Shakespeare. The small text is the book of Proverbs (King James Bible, 80 KB; bench/corpora.py), its
last 10% held out. Both runs are `chargen train proverbs.txt --minutes M` with the time-budget recipe,
one of them with `--init-from PARENT`. Results are appended to bench/results/finetune.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import common, corpora
from bench.quality import run
from chargen.units import bits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parent", type=Path, help="a trained run or checkpoint to start from")
    parser.add_argument("--parent-minutes", type=float, default=5.0)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("extra", nargs="*", help="options for the fine-tuning run (after --)")
    args = parser.parse_args()
    text = corpora.get("proverbs")
    with tempfile.TemporaryDirectory() as tmp:
        parent = args.parent
        if parent is None:
            parent = Path(tmp) / "parent"
            subprocess.run([sys.executable, "-m", "chargen", "train", "--minutes", f"{args.parent_minutes:g}",
                            "--checkpoint-dir", tmp, "--name", "parent", "-q", "--sample-length", "0"], check=True)
        scratch = run(text, ("minutes", args.minutes), [])
        tuned = run(text, ("minutes", args.minutes), ["--init-from", str(parent.resolve()), *args.extra])
    print(f"{text.name}: {text.stat().st_size:,} bytes, {args.minutes:g} minute(s) each")
    print(f"{'start':>12}  {'steps':>6}  {'best val nats':>13}  {'bpc':>6}  recipe")
    for label, r in (("scratch", scratch), ("fine-tuned", tuned)):
        print(f"{label:>12}  {r['steps']:>6,}  {r['best_val_loss']:>13.4f}  {bits(r['best_val_loss']):>6.3f}  "
              f"{r['model']['cell']} {r['model']['layers']}x{r['model']['hidden_size']}, lr {r['train']['lr']:g}, "
              f"batch {r['train']['batch_size']}")
    common.save("finetune", [{"scratch": scratch, "fine_tuned": tuned, "extra": args.extra}])


if __name__ == "__main__":
    main()
