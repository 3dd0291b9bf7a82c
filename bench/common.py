"""What the benchmarks share: timing a call, chargen's training step on random ids, and the results
files (bench/results/NAME.json, each record stamped with the machine, the date and the code)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import torch

from chargen.config import ModelConfig, TrainConfig
from chargen.model.charrnn import CharRNN
from chargen.model.device import set_arithmetic
from chargen.train.optim import make_optimizer
from chargen.train.step import TrainStep

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def seconds_per_call(fn: Callable[[], object], device: torch.device | None = None, warmup: int = 2,
                     min_s: float = 1.0, min_reps: int = 3, max_reps: int = 200) -> float:
    """Median seconds per call of `fn` after `warmup` calls, over at least `min_s` seconds and `min_reps`
    calls (and at most `max_reps`). On a GPU each call is waited for, so its queued work is counted."""
    def sync() -> None:
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    sync()
    times: list[float] = []
    while len(times) < min_reps or sum(times) < min_s:
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
        if len(times) >= max_reps:
            break
    return statistics.median(times)


def training_step(config: ModelConfig, batch: int, seq: int, precision: str = "fp32",
                  device: torch.device = torch.device("cpu"), read_back: bool = True) -> Callable[[], None]:
    """A call that runs chargen's training step (chargen.train.step.TrainStep, with TrainConfig's
    defaults) once on the same random ids x, y (B, T) = (batch, seq), the state carried from call to
    call as the loop carries it: what a run does per step, less reading the data."""
    torch.manual_seed(0)
    set_arithmetic(precision, device)
    with device:  # built where it runs: a big model's initialisation on the CPU would take longer than its timing
        model = CharRNN(config)
    cfg = TrainConfig()
    step = TrainStep(model, make_optimizer(model, cfg), precision, cfg.grad_clip)
    x = torch.randint(0, config.vocab_size, (batch, seq), device=device)
    y = torch.randint(0, config.vocab_size, (batch, seq), device=device)
    state = None

    def once() -> None:
        nonlocal state
        state = step(x, y, state, cfg.lr, read_back=read_back).state

    return once


def commit_of(root: Path = ROOT) -> str:
    """The code a result was measured with: the last commit that changed chargen/, "+changes" where the
    working tree's chargen/ differs from it. Commits that touch only docs or benchmarks keep the name, so
    results measured before and after them compare as the same code."""
    git = lambda *args: subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True).stdout.strip()  # noqa: E731
    code = git("log", "-1", "--format=%h", "--", "chargen") or "unknown"
    return code + ("+changes" if git("status", "--porcelain", "--", "chargen") else "")


def machine() -> dict:
    """What a figure was measured on: the CPU, its cores, whether it has bf16 instructions, torch's threads
    and version, the GPU if any. Two CPUs of one name can differ in bf16, and with it the recipe a budget
    gets (bf16 or fp32, and so the model's size)."""
    cpu, bf16 = platform.processor() or platform.machine(), None
    if Path("/proc/cpuinfo").is_file():
        fields = dict(line.split(":", 1) for line in reversed(Path("/proc/cpuinfo").read_text().splitlines())
                      if ":" in line)  # reversed: the first processor's wins
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        cpu = fields.get("model name") or cpu
        flags = (fields.get("flags") or fields.get("Features") or "").split()  # x86, Arm
        bf16 = bool({"avx512_bf16", "amx_bf16", "bf16"} & set(flags)) if flags else None
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "cpu_bf16": bf16, "threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__}


def load(name: str) -> list[dict]:
    """Every record saved in bench/results/NAME.json, oldest first."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else []


def save(name: str, records: list[dict]) -> None:
    """Append `records` to bench/results/NAME.json, each stamped with the machine, the date and the commit
    of chargen/ (a record's own keys win: a run of another checkout names that checkout's commit), and
    rewrite docs/benchmarks.md from the results (bench/report.py)."""
    from bench import report  # here, not at the top: the report imports the benchmarks, and they this module

    stamp = {**machine(), "commit": commit_of(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(load(name) + [{**stamp, **r} for r in records], indent=2) + "\n")
    report.write(RESULTS, report.DOC)


def untrained_run(folder: Path, steps: int = 5, layers: int = 2, hidden_size: int = 256, name: str = "run") -> Path:
    """A run made by `chargen train` on the bundled corpus in `folder`, trained `steps` steps (speed benchmarks
    need its shape and files, not what it learned): its folder, folder/checkpoints/NAME."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "chargen", "train", "--name", name, "--steps", str(steps), "--eval-every",
                    str(steps), "--layers", str(layers), "--hidden-size", str(hidden_size), "-q", "--sample-length", "0"],
                   cwd=folder, check=True)
    return folder / "checkpoints" / name
