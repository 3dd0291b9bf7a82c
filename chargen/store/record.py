"""A checkpoint as a typed record: what a run saved, whichever file it came from (chargen.store.checkpoint's
.pt with the training state, or chargen.store.weights' .safetensors). The one place that knows the
files' keys, and where older formats are converted. No torch: sampling and `info` read it without."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from chargen import __version__
from chargen.config import ModelConfig, TrainConfig
from chargen.data.vocab import Vocab
from chargen.units import bits

FORMAT_VERSION = 2  # 2: several processes' generators, line mode, a parent model; version 1 files still load


@dataclass
class Position:
    """Where training is: everything besides weights and optimizer that a resume needs."""

    step: int = 0
    epoch: int = 0
    window: int = 0
    total_steps: int | None = None
    best_val_loss: float | None = None
    lr_scale: float = 1.0  # halved at each rollback after divergence
    rollbacks: int = 0
    elapsed_s: float = 0.0  # training wall time before this process
    chars: int = 0  # characters trained on so far (all processes)


@dataclass
class CorpusFacts:
    """What a run was trained on: enough to find the text again and to notice that it changed."""

    sources: list[str]
    sha256: str = ""
    encoding: str = "utf-8"
    chars: int = 0


@dataclass
class ResumeState:
    """What continues a run bit for bit, besides the weights and the position."""

    optimizer: dict[str, Any]
    state: list[Any]  # each (L, world x B, H): every process's streams side by side
    rng: list[dict[str, Any]]  # one per process: its "torch", "cuda" and "python" generator states


@dataclass
class Checkpoint:
    model_config: ModelConfig
    vocab: Vocab
    weights: dict[str, Any]  # name -> torch.Tensor (from a .pt) or numpy.ndarray (from a .safetensors)
    corpus: CorpusFacts
    train_config: TrainConfig = field(default_factory=TrainConfig)
    position: Position = field(default_factory=Position)
    world_size: int = 1  # processes that trained the run together
    parent: dict[str, Any] | None = None  # the model a fine-tuned run started from (chargen.train.finetune)
    resume: ResumeState | None = None  # only in latest.pt
    chargen_version: str = __version__
    weights_sha256: str = ""  # set when the checkpoint is written or read
    format_version: int = FORMAT_VERSION

    @property
    def lines(self) -> bool:
        """Whether the model was trained on items, one per line (--lines)."""
        return self.train_config.lines

    @property
    def name(self) -> str:
        """What to call the model: its (first) corpus file's name."""
        return Path(self.corpus.sources[0]).stem if self.corpus.sources else "model"

    def payload(self) -> dict[str, Any]:
        """The file's contents: plain values and tensors only."""
        out = {"chargen_version": self.chargen_version, "model_config": asdict(self.model_config),
               "vocab": self.vocab.chars, "weights": self.weights, "corpus": asdict(self.corpus),
               "train_config": asdict(self.train_config), "position": asdict(self.position),
               "world_size": self.world_size}
        if self.parent is not None:
            out["parent"] = self.parent
        if self.resume is not None:  # by hand: asdict would deep-copy every tensor of the optimizer's state
            out["resume"] = {"optimizer": self.resume.optimizer, "state": self.resume.state, "rng": self.resume.rng}
        return out

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Checkpoint:
        """A file's contents as a Checkpoint, whatever format version wrote them."""
        resume = payload.get("resume")
        if resume is not None:
            # Format 1 (single-process chargen 0.1) kept one process's generators at the top level.
            rng = resume.get("rng") or [{"torch": resume["torch_rng"], "cuda": resume["cuda_rng"],
                                         "python": resume["python_rng"]}]
            resume = ResumeState(resume["optimizer"], list(resume["state"]), rng)
        return cls(
            model_config=ModelConfig.saved(payload["model_config"]), vocab=Vocab(payload["vocab"]),
            weights=payload["weights"], corpus=_known(CorpusFacts, payload.get("corpus", {"sources": []})),
            train_config=_known(TrainConfig, payload.get("train_config", {})),
            position=_known(Position, payload.get("position", {})), world_size=payload.get("world_size", 1),
            parent=payload.get("parent"), resume=resume, chargen_version=payload.get("chargen_version", "0.1.0"),
            weights_sha256=payload.get("weights_sha256", ""), format_version=payload.get("format_version", 1))

    def facts(self, path: Path) -> dict[str, Any]:
        """What `chargen info` shows: model, corpus, progress and the digest of the weights."""
        model, position, best = self.model_config, self.position, self.position.best_val_loss
        return {
            "checkpoint": str(path), "cell": model.cell, "layers": model.layers, "hidden_size": model.hidden_size,
            "embed_dim": model.embed_dim, "dropout": model.dropout,
            "weight_drop": model.weight_drop, "input_dropout": model.input_dropout, "locked_dropout": model.locked_dropout,
            "parameters": sum(math.prod(t.shape) for t in self.weights.values()), "vocab_size": model.vocab_size,
            "corpus": self.corpus.sources, "corpus_chars": self.corpus.chars, "corpus_sha256": self.corpus.sha256,
            "mode": "lines" if self.lines else "text", "step": position.step, "total_steps": position.total_steps,
            "best_val_loss": best, "best_val_bpc": bits(best) if best is not None else None,
            "weights_sha256": self.weights_sha256, "parent": self.parent, "resumable": self.resume is not None,
            "format_version": self.format_version, "chargen_version": self.chargen_version,
        }


def _known(cls, values: dict[str, Any]):
    """`cls(**values)`, less keys that a newer or older chargen wrote and this one does not know."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def fact_text(key: str, value: Any) -> str:
    """One of `Checkpoint.facts` as text: yes or no, thousands separators, losses to 4 places and other
    numbers as they are (dropout 0.2), lists and records inline."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "format_version":
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}" if key.endswith(("_loss", "_bpc")) else f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')} {fact_text(k, v)}" for k, v in value.items() if v is not None)
    return str(value)
