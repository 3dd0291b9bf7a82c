"""Run folders: where a run's checkpoints, metrics and config live, and how commands find them.

    checkpoints/<run-name>/
        best.pt        lowest validation loss so far
        latest.pt      the most recent save point (what --resume continues from)
        metrics.jsonl  one JSON record per evaluation
        config.json    the resolved model and training configuration
        .lock          held by the process training this run
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from chargen.store.files import describe_os_error, write_text_atomically
from chargen.errors import ChargenError

BEST = "best.pt"
LATEST = "latest.pt"
METRICS = "metrics.jsonl"
CONFIG = "config.json"
LOCK = ".lock"
DEFAULT_CHECKPOINT_DIR = Path("checkpoints")


def new_run_name(corpus_sources: list[str] | tuple[str, ...]) -> str:
    stem = Path(corpus_sources[0]).stem if len(corpus_sources) == 1 else Path(corpus_sources[0]).parent.name
    return f"{stem or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}"


def _runs(checkpoint_dir: Path) -> list[Path]:
    if not checkpoint_dir.is_dir():
        return []
    return [d for d in checkpoint_dir.iterdir() if d.is_dir() and ((d / LATEST).is_file() or (d / BEST).is_file())]


def latest_run(checkpoint_dir: Path) -> Path:
    """The run whose checkpoint was written most recently."""
    runs = _runs(checkpoint_dir)
    if not runs:
        where = f"{checkpoint_dir}" if checkpoint_dir.is_dir() else f"{checkpoint_dir} (it does not exist)"
        raise ChargenError(f"no trained runs in {where}; train one with `chargen train` or pass -c PATH")

    def written(run: Path) -> float:
        return max((run / f).stat().st_mtime for f in (LATEST, BEST) if (run / f).is_file())

    return max(runs, key=written)


def find_run(spec: str | None, checkpoint_dir: Path) -> Path:
    """A run folder from a path, a run name under `checkpoint_dir`, or None for the latest run."""
    if spec is None:
        return latest_run(checkpoint_dir)
    for candidate in (Path(spec), checkpoint_dir / spec):
        if candidate.is_dir():
            return candidate
        if candidate.is_file():
            return candidate.parent
    raise ChargenError(f"no run {spec!r}: not a folder, a checkpoint file, or a run in {checkpoint_dir}")


def find_checkpoint(spec: str | None, checkpoint_dir: Path, prefer: str = BEST) -> Path:
    """A checkpoint file from a file path, a run folder or name (its best, else latest), or None (latest run)."""
    if spec is not None and Path(spec).is_file():
        return Path(spec)
    run = find_run(spec, checkpoint_dir)
    for name in (prefer, BEST, LATEST):
        if (run / name).is_file():
            return run / name
    raise ChargenError(f"run folder {run} has no checkpoint yet ({BEST} or {LATEST})")


def ensure_writable(folder: Path) -> None:
    """Create `folder` and prove a file can be written there, before any training time is spent."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise ChargenError(f"cannot write to {folder} ({describe_os_error(e)}); choose another --checkpoint-dir") from None


class RunLock:
    """An advisory lock on a run folder; the operating system releases it if the process dies."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ChargenError(
                f"run {self.path.parent} is being trained by another chargen process (pid {holder}); "
                "wait for it or use another --name"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    with open(run_dir / METRICS, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def trim_metrics(run_dir: Path, after_step: int) -> None:
    """Drop records newer than `after_step`: a resumed run redoes those steps and logs them again."""
    path = run_dir / METRICS
    if not path.is_file():
        return
    keep = [line for line in path.read_text(encoding="utf-8").splitlines() if _step_of(line) <= after_step]
    write_text_atomically(path, "".join(line + "\n" for line in keep))


def _step_of(line: str) -> float:
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return float("inf")  # a torn last line from a killed process


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    write_text_atomically(run_dir / CONFIG, json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def read_metrics(run_dir: Path) -> tuple[list[dict[str, Any]], int]:
    """A run's evaluation records and how many lines of metrics.jsonl could not be read (skipped)."""
    path = run_dir / METRICS
    if not path.is_file():
        what = "a chargen run" if (run_dir / LATEST).is_file() or (run_dir / BEST).is_file() else "no chargen run"
        raise ChargenError(f"{run_dir} has no {METRICS}: it is {what} with no evaluation yet"
                           if what == "a chargen run" else f"{run_dir} is not a chargen run (no {METRICS})")
    records, skipped = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            float(record["step"]), float(record["train_loss"])
        except (ValueError, KeyError, TypeError):
            skipped += 1
            continue
        records.append(record)
    if not records:
        raise ChargenError(f"{path} has no evaluation records yet" + (f" ({skipped} unreadable line(s))" if skipped else "")
                           + "; train the run past its first evaluation")
    return records, skipped
