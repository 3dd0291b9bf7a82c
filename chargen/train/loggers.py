"""Experiment logs beside metrics.jsonl: the same evaluation records, written for TensorBoard or
Weights & Biases (`chargen train --log tensorboard|wandb`), each only where its package is installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chargen.errors import ChargenError

KINDS = ("tensorboard", "wandb")


PACKAGES = {"tensorboard": ("tensorboard", "tensorboard"), "wandb": ("wandb", "wandb")}  # kind: (module, extra)


def require(kinds: list[str]) -> None:
    """Fail now, before any training, if a log's package is missing: what to install, in one line."""
    import importlib.util

    for kind in kinds:
        module, extra = PACKAGES[kind]
        try:
            found = importlib.util.find_spec(module) is not None
        except ValueError:  # a module set to None (hidden): as good as missing
            found = False
        if not found:
            raise ChargenError(f"--log {kind} needs the {module} package: pip install 'chargen[{extra}]'")


class TensorBoardLog:
    """Scalars under chargen/<name> in the run folder's `tensorboard/` (point `tensorboard --logdir` at it)."""

    def __init__(self, run_dir: Path, config: dict[str, Any]) -> None:
        require(["tensorboard"])
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
        self.writer.add_text("chargen/config", "\n".join(f"    {k}: {v}" for k, v in _flat(config).items()))

    def record(self, record: dict[str, Any]) -> None:
        for name, value in _numbers(record).items():
            self.writer.add_scalar(f"chargen/{name}", value, record["step"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbLog:
    """A Weights & Biases run named after the chargen run (offline unless you are logged in)."""

    def __init__(self, run_dir: Path, config: dict[str, Any]) -> None:
        require(["wandb"])
        import wandb

        self.run = wandb.init(project="chargen", name=run_dir.name, dir=str(run_dir), config=_flat(config),
                              resume="allow", id=run_dir.name)

    def record(self, record: dict[str, Any]) -> None:
        self.run.log(_numbers(record), step=record["step"])

    def close(self) -> None:
        self.run.finish()


def open_logs(kinds: list[str], run_dir: Path, config: dict[str, Any]) -> list[TensorBoardLog | WandbLog]:
    """One log per kind asked for; a kind whose package is missing is a ChargenError that says what to install."""
    makers = {"tensorboard": TensorBoardLog, "wandb": WandbLog}
    return [makers[kind](run_dir, config) for kind in dict.fromkeys(kinds)]


def _numbers(record: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in record.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
