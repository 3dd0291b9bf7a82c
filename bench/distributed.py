"""Speed of one process against several on this machine: the same global batch, the same steps.

    python -m bench.distributed                  # 1 process vs 2, LSTM 2x256, global batch 32 x 64
    python -m bench.distributed --nproc 1 2 4 --steps 300

Each run is `chargen train CORPUS --steps N --batch-size B/n --nproc n`, so every run does the same
computation (n processes of B/n streams each); training chars/s comes from the run's own clock
(metrics.jsonl's elapsed_s, start-up and process launch excluded). One process uses all cores as
threads; n processes get cores/n threads each. Results are appended to bench/results/distributed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import common
from bench.corpora import tinyshakespeare


def run(corpus: Path, nproc: int, batch: int, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "chargen", "train", str(corpus), "--steps", str(steps), "--eval-every", str(steps),
               "--batch-size", str(batch // nproc), "--checkpoint-dir", tmp, "--name", "d", "-q", "--sample-length", "0"]
        if nproc > 1:
            cmd += ["--nproc", str(nproc)]
        subprocess.run(cmd, check=True)
        last = [json.loads(line) for line in (Path(tmp) / "d" / "metrics.jsonl").read_text().splitlines()][-1]
    return {"nproc": nproc, "batch_per_process": batch // nproc, "steps": steps,
            "chars_per_s": last["chars"] / last["elapsed_s"], "val_loss": last["val_loss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=32, help="the global batch, split among the processes")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--corpus", type=Path, default=tinyshakespeare())
    args = parser.parse_args()
    results = [run(args.corpus, n, args.batch_size, args.steps) for n in args.nproc]
    base = results[0]["chars_per_s"]
    print(f"{os.cpu_count()} cores; LSTM 2x256, global batch {args.batch_size} x 64, {args.steps} steps")
    print(f"{'processes':>9}  {'batch each':>10}  {'chars/s':>9}  {'speed-up':>8}  {'val loss':>8}")
    for r in results:
        print(f"{r['nproc']:>9}  {r['batch_per_process']:>10}  {r['chars_per_s']:>9,.0f}  "
              f"{r['chars_per_s'] / base:>7.2f}x  {r['val_loss']:>8.4f}")
    common.save("distributed", results)


if __name__ == "__main__":
    main()
