"""Which weight initialisation learns fastest, for each cell: the same model, data, steps and seed.

    python -m bench.init                          # every cell, its candidate initialisations, 1,000 steps
    python -m bench.init --cells lstm --steps 2000 --lr 4e-3

Each run trains a 2x256 model on tinyshakespeare (standard split) for --steps steps of 32 x 64 at
fp32 with the plain schedule (warm-up 100, cosine to 0.1 x lr), the only difference being
`--init`, how the recurrent weights start (chargen.config.INITS says what each scheme is).
Results are appended to bench/results/init.json; `--init`'s default is the winner.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench import common
from bench.corpora import tinyshakespeare
from chargen.config import TrainConfig
from chargen.train.launch import new_trainer
from chargen.train.reports import Evaluated
from chargen.train.request import RunRequest

CANDIDATES = {
    "lstm": ["torch", "orthogonal", "forget-1"],
    "gru": ["torch", "orthogonal"],
    "rnn-tanh": ["torch", "orthogonal", "identity"],
    "rnn-relu": ["torch", "orthogonal", "identity"],
}


def run(cell: str, init: str, steps: int, lr: float, corpus: Path, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(steps=steps, eval_every=steps // 4, lr=lr, seed=seed)
        trainer = new_trainer(RunRequest([str(corpus)], {"cell": cell, "init": init}, cfg, Path(tmp) / "run"))
        evals = [(r.step, r.val_loss) for r in trainer.run() if isinstance(r, Evaluated)]
    return {"cell": cell, "init": init, "steps": steps, "lr": lr, "seed": seed, "val": evals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--corpus", type=Path, default=tinyshakespeare())
    args = parser.parse_args()
    results = []
    for cell in args.cells:
        for scheme in CANDIDATES[cell]:
            results.append(run(cell, scheme, args.steps, args.lr, args.corpus, args.seed))
            r = results[-1]
            print(f"{cell:9} {scheme:15} " + "  ".join(f"{s}: {v:.4f}" for s, v in r["val"]), flush=True)
    common.save("init", results)


if __name__ == "__main__":
    main()
