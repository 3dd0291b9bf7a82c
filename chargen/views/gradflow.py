"""Vanishing gradients, measured on real text: how much of the gradient of one prediction reaches the
state k steps earlier, |dL_T/ds_{T-k}| for k = 0..K, for each kind of cell, at initialisation and
after training.

The state s_t is the whole recurrent state after step t: every layer's h_t (and c_t for an LSTM).
Each window is read after a warm-up of real text, so the state is a typical one, and the norms are
averaged over many windows; backpropagation is `chargen.model.equations`, checked against torch in the tests.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chargen.config import CELLS, INITS, TrainConfig
from chargen.data.corpus import load_corpus
from chargen.model.equations import Network
from chargen.errors import ChargenError

WARMUP = 32  # characters read before a window, so that it starts from a typical state
FLOOR = 0.01  # "reach": the k at which the gradient has fallen to this fraction of its size at k = 0


@dataclass(frozen=True)
class Flow:
    cell: str  # the cell, and how its weights started if not the default: "rnn-relu:identity"
    stage: str  # "initialisation" or "after N steps"
    norms: np.ndarray  # (K+1,) mean |dL_T/ds_{T-k}|, k = 0..K
    clipped: float | None = None  # share of the training steps in which gradient clipping engaged

    @property
    def reach(self) -> int | None:
        """The first k at which the gradient is down to FLOOR of its k = 0 size; None: beyond the horizon."""
        below = np.flatnonzero(self.norms <= FLOOR * self.norms[0])
        return int(below[0]) if len(below) else None

    @property
    def horizon(self) -> int:
        return len(self.norms) - 1


def state_gradients(net: Network, ids: np.ndarray, horizon: int, windows: int, seed: int = 0) -> np.ndarray:
    """(horizon + 1,): the mean norm of the gradient of the last prediction of a window with respect to
    the state k steps before it, over `windows` windows of `ids`."""
    span = WARMUP + horizon + 2
    if len(ids) < span + 1:
        raise ChargenError(f"the text has {len(ids):,} characters; measuring {horizon} steps back needs more than "
                           f"{span:,}: lower --horizon or give more text")
    starts = np.random.default_rng(seed).integers(0, len(ids) - span, windows)
    text = np.stack([ids[s : s + span] for s in starts]).astype(np.int64)  # (B, span)
    warm = net.forward(text[:, :WARMUP])
    run = net.forward(text[:, WARMUP : WARMUP + horizon + 1], warm.state)
    grads = net.backward(run, text[:, WARMUP + 1 :], last_only=True)
    return grads.state_norms.mean(0)[::-1]  # t = T..T-K read as k = 0..K


def gradient_flow(corpus_paths: list[str], cells: list[str], steps: int, horizon: int, model_options: dict,
                  train_options: dict, windows: int = 32, progress=None) -> list[Flow]:
    """Each cell, at initialisation and after `steps` training steps, the same size, text and seed.

    `progress(cell, stage)` is called as each measurement starts (training takes the time).
    """
    from chargen.train.launch import new_trainer
    from chargen.train.reports import Evaluated
    from chargen.train.request import RunRequest

    specs = [parse_cell(c) for c in cells]
    ids = load_corpus(corpus_paths).ids
    flows = []
    for cell, (name, init) in zip(cells, specs):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = TrainConfig(**{**train_options, "steps": steps, "eval_every": steps})
            options = {**model_options, "cell": name, **({"init": init} if init else {})}
            trainer = new_trainer(RunRequest(corpus_paths, options, cfg, Path(tmp) / "run"))
            config = trainer.model_config
            if progress:
                progress(cell, "initialisation")
            flows.append(Flow(cell, "initialisation", state_gradients(Network(config, trainer.model.state_dict()), ids,
                                                                      horizon, windows)))
            if progress:
                progress(cell, f"training {steps} steps")
            clipped = [r.record["clipped"] for r in trainer.run() if isinstance(r, Evaluated)][-1]
            flows.append(Flow(cell, f"after {steps} steps", state_gradients(Network(config, trainer.model.state_dict()),
                                                                         ids, horizon, windows), clipped))
    return flows


def parse_cell(spec: str) -> tuple[str, str | None]:
    """'lstm' or 'rnn-relu:identity' (a cell, and how its weights start) -> (cell, init or None)."""
    name, _, init = spec.partition(":")
    if name not in CELLS:
        raise ChargenError(f"unknown cell {name!r}; choose from {', '.join(CELLS)} (optionally cell:init)")
    if init and init not in INITS:
        raise ChargenError(f"unknown init {init!r} in {spec!r}; choose from {', '.join(INITS)}")
    return name, init or None


def flows_json(flows: list[Flow]) -> str:
    return json.dumps([{"cell": f.cell, "stage": f.stage, "reach": f.reach, "horizon": f.horizon,
                        "clipped": f.clipped, "norms": [float(v) for v in f.norms]} for f in flows], indent=2)
