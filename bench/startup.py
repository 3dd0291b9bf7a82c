"""Start-up: how soon sample, repl and info answer, beside `python -c "import numpy"` in the same run.

    python -m bench.startup              # 7 runs of each, medians; results in bench/results/startup.json
    python -m bench.startup --runs 3 --no-save

A 2x256 LSTM is trained for a few steps on the bundled corpus by `chargen train` in a temporary folder
(so it has best.safetensors beside best.pt), then each command runs in a fresh process:
`chargen sample -c RUN --length 1` and `chargen info -c RUN` to their exit, and `chargen repl -c RUN`
until its prompt shows in a pseudo-terminal (as tests/test_repl.py drives it). Sampling throughput at
batch 1 is measured in this process on the step model read from best.safetensors and from best.pt:
the NumPy path is the same, so the two should agree.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import save, untrained_run

TARGETS_S = {"sample": 0.4, "repl": 0.5, "info": 0.3}  # issue 31's targets, wall seconds from the start


def wall(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def repl_prompt(cwd: Path) -> float:
    """Seconds from starting `chargen repl` in a pseudo-terminal to its prompt."""
    import pexpect

    start = time.perf_counter()
    child = pexpect.spawn(sys.executable, ["-m", "chargen", "repl", "-c", "run"], cwd=str(cwd), encoding="utf-8",
                          timeout=60)
    child.expect("» ")
    seconds = time.perf_counter() - start
    child.sendeof()
    child.expect(pexpect.EOF)
    return seconds


def chars_per_s(path: Path, chars: int = 5000) -> float:
    from chargen.config import SamplingSettings
    from chargen.generate.sample import sampler_for
    from chargen.store.weights import read_model

    sampler = sampler_for(read_model(path), SamplingSettings(0.8), seed=1)
    start = time.perf_counter()
    for _ in sampler.stream(chars):
        pass
    return chars / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per command (the median is kept)")
    parser.add_argument("--no-save", action="store_true", help="print only; leave bench/results alone")
    args = parser.parse_args()
    chargen = [sys.executable, "-m", "chargen"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        untrained_run(folder, steps=10)
        commands = {
            "numpy": lambda: wall([sys.executable, "-c", "import numpy"], folder),
            "sample": lambda: wall([*chargen, "sample", "-c", "run", "--length", "1"], folder),
            "info": lambda: wall([*chargen, "info", "-c", "run"], folder),
            "repl": lambda: repl_prompt(folder),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # interleaved, so a slow spell of the machine falls on every command alike
            for name, measure in commands.items():
                times[name].append(measure())
        run = folder / "checkpoints" / "run"
        rates: dict[str, list[float]] = {"safetensors": [], "pt": []}
        for _ in range(3):  # alternated, medians: the machine's own drift is larger than any difference here
            for kind in rates:
                rates[kind].append(chars_per_s(run / f"best.{kind}"))
        throughput = {kind: statistics.median(r) for kind, r in rates.items()}
    record = {"runs": args.runs, **{f"{name}_s": round(statistics.median(ts), 3) for name, ts in times.items()},
              "sample_chars_per_s_safetensors": round(throughput["safetensors"]),
              "sample_chars_per_s_pt": round(throughput["pt"])}
    for name, target in TARGETS_S.items():
        print(f"{name:7s} {record[f'{name}_s']:.3f} s (target <= {target} s; import numpy {record['numpy_s']:.3f} s)")
    print(f"sampling, batch 1, 2x256: {record['sample_chars_per_s_safetensors']:,} chars/s from best.safetensors, "
          f"{record['sample_chars_per_s_pt']:,} from best.pt")
    if not args.no_save:
        save("startup", [record])


if __name__ == "__main__":
    main()
