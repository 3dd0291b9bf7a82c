"""Run folders: where a run's checkpoints, metrics and config live, how commands find them, and what
`chargen runs` says of each (read from the JSON files alone, so listing runs never loads torch).

    checkpoints/<run-name>/
        best.pt        lowest validation loss so far
        best.safetensors  the same model, readable without torch (what sample, repl and info read)
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chargen.store.files import describe_os_error, write_text_atomically
from chargen.errors import ChargenError
from chargen.units import bits

BEST = "best.pt"
BEST_WEIGHTS = "best.safetensors"  # the best model again, readable without torch (chargen.store.weights)
LATEST = "latest.pt"
METRICS = "metrics.jsonl"
CONFIG = "config.json"
LOCK = ".lock"


def check_run_name(name: str) -> str:
    """A run's name is one folder under --checkpoint-dir: no separators, not hidden, not empty."""
    if not name or name in (".", "..") or name.startswith(".") or any(sep in name for sep in ("/", "\\", "\0")):
        raise ChargenError(f"run name {name!r} must be one folder name: no / or \\, not starting with '.'")
    return name


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


def _folders(checkpoint_dir: Path) -> list[Path]:
    """Every run folder, trained or still before its first checkpoint: what `chargen runs` lists."""
    if not checkpoint_dir.is_dir():
        return []
    return [d for d in checkpoint_dir.iterdir()
            if d.is_dir() and any((d / f).is_file() for f in (LATEST, BEST, CONFIG, METRICS))]


def find_run(spec: str | None, checkpoint_dir: Path) -> Path:
    """A run folder from a path, a run name under `checkpoint_dir` or the start of one (when only one run
    starts so; an exact name always wins), or None for the latest run."""
    if spec is None:
        return latest_run(checkpoint_dir)
    for candidate in (Path(spec), checkpoint_dir / spec):
        if candidate.is_dir():
            return candidate
        if candidate.is_file():
            return candidate.parent
    if spec and "/" not in spec and os.sep not in spec:
        starting = sorted(d.name for d in _folders(checkpoint_dir) if d.name.startswith(spec))
        if len(starting) == 1:
            return checkpoint_dir / starting[0]
        if starting:
            raise ChargenError(f"{spec!r} is the start of {len(starting)} runs in {checkpoint_dir}: "
                               f"{', '.join(starting)}; give more of the name")
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


def find_model(spec: str | None, checkpoint_dir: Path) -> Path:
    """The file to read a model from, to use it (not to resume): as find_checkpoint, but a run's
    best.safetensors where it is at least as new as its best.pt (a save writes best.pt first); a file
    named is read as it is."""
    if spec is not None and Path(spec).is_file():
        return Path(spec)
    path = find_checkpoint(spec, checkpoint_dir)
    weights = path.with_name(BEST_WEIGHTS)
    if path.name == BEST and weights.is_file() and weights.stat().st_mtime_ns >= path.stat().st_mtime_ns:
        return weights
    return path


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


def is_training(run_dir: Path) -> bool:
    """Whether a live process holds the run's lock. The file outlives a killed process, so its being there
    says nothing: a non-blocking attempt to take the lock asks the operating system."""
    try:
        fd = os.open(run_dir / LOCK, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


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


def mark_ended(run_dir: Path, reason: str) -> None:
    """Record in config.json how the run's last process ended ("done", "time" or "interrupted")."""
    write_config(run_dir, {**_json(run_dir / CONFIG), "ended": reason})


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    write_text_atomically(run_dir / CONFIG, json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def read_metrics(run_dir: Path) -> tuple[list[dict[str, Any]], int]:
    """A run's evaluation records and how many lines of metrics.jsonl could not be read (skipped)."""
    path = run_dir / METRICS
    if not path.is_file():
        what = "a chargen run" if (run_dir / LATEST).is_file() or (run_dir / BEST).is_file() else "no chargen run"
        raise ChargenError(f"{run_dir} has no {METRICS}: it is {what} with no evaluation yet"
                           if what == "a chargen run" else f"{run_dir} is not a chargen run (no {METRICS})")
    records, skipped = _records(path)
    if not records:
        raise ChargenError(f"{path} has no evaluation records yet" + (f" ({skipped} unreadable line(s))" if skipped else "")
                           + "; train the run past its first evaluation")
    return records, skipped


def _records(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The readable records of a metrics.jsonl, and how many of its lines were not (a torn last line)."""
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
    return records, skipped


@dataclass
class RunSummary:
    """What `chargen runs` says of one run folder."""

    name: str
    path: str
    cell: str | None  # None where config.json is missing or unreadable
    layers: int | None
    hidden_size: int | None
    corpus: list[str]  # the corpus files' names
    steps: int  # the step of the last evaluation; 0 before the first
    best_val_bpc: float | None
    written: float  # when the run last wrote a file, in seconds since the epoch
    state: str  # training, interrupted, finished or "no checkpoint" (see _state)


def list_runs(checkpoint_dir: Path) -> list[RunSummary]:
    """Every run under `checkpoint_dir`, the most recently written first."""
    return sorted((summarise(d) for d in _folders(checkpoint_dir)), key=lambda r: r.written, reverse=True)


def summarise(run_dir: Path) -> RunSummary:
    """A run folder's summary, from its config.json and metrics.jsonl; what they lack stays None."""
    config = _json(run_dir / CONFIG)
    model = config.get("model") or {}
    corpus = (config.get("corpus") or {}).get("sources") or []
    records = _records(run_dir / METRICS)[0] if (run_dir / METRICS).is_file() else []
    last = records[-1] if records else None
    losses = [r["val_loss"] for r in records if isinstance(r.get("val_loss"), (int, float))]
    files = [run_dir / f for f in (LATEST, BEST, METRICS, CONFIG) if (run_dir / f).is_file()]
    return RunSummary(
        name=run_dir.name, path=str(run_dir), cell=model.get("cell"), layers=model.get("layers"),
        hidden_size=model.get("hidden_size"), corpus=[Path(str(s)).name for s in corpus],
        steps=int(last["step"]) if last else 0, best_val_bpc=bits(min(losses)) if losses else None,
        written=max(f.stat().st_mtime for f in files), state=_state(run_dir, config))


def _state(run_dir: Path, config: dict[str, Any]) -> str:
    """training (a live process holds the lock), finished (the loop said so in config.json), interrupted
    (resumable: Ctrl-C, a kill, a crash), or "no checkpoint" (stopped before its first save)."""
    if is_training(run_dir):
        return "training"
    if config.get("ended") in ("done", "time"):
        return "finished"
    if (run_dir / LATEST).is_file():
        return "interrupted"
    return "finished" if (run_dir / BEST).is_file() else "no checkpoint"


def _json(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}
