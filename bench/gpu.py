"""GPU benchmark: the matrix-unit ceilings, the training step's speed, batch-1 generation, and quality.

    python -m bench.gpu                        # everything below, in this order
    python -m bench.gpu ceilings throughput    # some of it
    python -m bench.gpu quality --minutes 1 3 10
    python -m bench.gpu --quick                # fewer sizes: a smoke test (runs on a CPU too, with --device cpu)

- ceilings: TFLOP/s of a large matrix product in bf16, TF32 and fp32 on this GPU, measured in the run, so
  that every step's achieved rate below stands beside what the hardware can do.
- throughput: characters per second of chargen's training step (chargen.train.step.TrainStep: forward,
  loss, backward, clipping, fused AdamW and the one host read of loss and gradient norm) for LSTM 2x256,
  3x512, 3x1024 and 3x2048 at 64 to 1024 streams of 64 characters, in fp32, TF32 and bf16; the
  achieved TFLOP/s count 6 FLOPs per weight per character. One column repeats bf16 without the host
  read, to show what the synchronisation costs.
- sampling: batch-1 generation from an LSTM 3x1024 trained for a few steps on the GPU by `chargen
  train`, through `chargen sample` in a fresh process: the NumPy CPU path against the CUDA-graph path
  and what `--device auto` picks; chars/s and the time from the command's start, and from the model
  being ready, to the first character.
- quality: `chargen train tinyshakespeare --minutes M` with the default recipe; validation loss on the
  whole held-out 10% (nats and bits per character), steps and what the recipe chose.
- grid: alternatives to the default run of --grid-of minutes, step for step (the same characters read,
  one choice changed: a 3x1024 or 2x1024 model with more dropout, more or less dropout, twice the
  streams for half the steps), so that the table shows how far the default is from the best found.

Results are appended to bench/results/gpu.json, a record per part (with the machine, the date and the
commit; bench/common.py), and printed as tables; docs/benchmarks.md is made from them.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench import common
from bench.common import ROOT, seconds_per_call, training_step
from bench.corpora import tinyshakespeare
from bench.quality import run as quality_run
from chargen.config import ModelConfig
from chargen.model.device import set_arithmetic

MODELS = ((2, 256), (3, 512), (3, 1024), (3, 2048))
BATCHES = (64, 128, 256, 512, 1024)
PRECISIONS = ("fp32", "tf32", "bf16")
SEQ = 64
VOCAB = 65  # tinyshakespeare's alphabet


def ceilings(device: torch.device, quick: bool) -> dict:
    """TFLOP/s of an n x n x n matrix product on random data, per arithmetic."""
    n = 2048 if quick or device.type != "cuda" else 8192
    out = {}
    for name, dtype, tf32 in (("bf16", torch.bfloat16, False), ("tf32", torch.float32, True), ("fp32", torch.float32, False)):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        out[name] = 2 * n**3 / seconds_per_call(lambda: a @ b, device, min_s=0.5) / 1e12
    torch.backends.cuda.matmul.allow_tf32 = False
    return out


def throughput(device: torch.device, quick: bool) -> list[dict]:
    rows = []
    models = MODELS[:2] if quick else MODELS
    batches = BATCHES[:2] if quick else BATCHES
    for layers, width in models:
        config = ModelConfig(vocab_size=VOCAB, layers=layers, hidden_size=width)
        for batch in batches:
            row = {"model": f"{layers}x{width}", "batch": batch, "seq": SEQ, "weights": config.matmul_params()}
            for precision in PRECISIONS if device.type == "cuda" else ("fp32",):
                try:
                    seconds = seconds_per_call(training_step(config, batch, SEQ, precision, device), device, min_s=0.3)
                    row[precision] = batch * SEQ / seconds
                except torch.cuda.OutOfMemoryError:
                    row[precision] = "OOM"
                torch.cuda.empty_cache() if device.type == "cuda" else None
            if device.type == "cuda":
                step = training_step(config, batch, SEQ, "bf16", device, read_back=False)
                seconds = seconds_per_call(step, device, min_s=0.3)
                row["bf16_no_read"] = batch * SEQ / seconds
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    set_arithmetic("fp32", device)
    return rows


def sampling(device: torch.device, quick: bool) -> list[dict]:
    """`chargen sample` from a GPU-trained 3x1024 LSTM, per --device, in fresh processes."""
    corpus = tinyshakespeare()
    rows = []
    size = (2, 256) if quick else (3, 1024)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "chargen", "train", str(corpus), "--steps", "30", "--layers", str(size[0]),
                        "--hidden-size", str(size[1]), "--device", str(device), "--checkpoint-dir", tmp, "--name", "big",
                        "--quiet", "--sample-length", "0", "--eval-every", "30"], check=True, cwd=ROOT)
        run = str(Path(tmp) / "big")
        for choice in ("cpu", "cuda", "auto") if torch.cuda.is_available() else ("cpu", "auto"):
            rows.append({"model": f"{size[0]}x{size[1]}", "device": choice, **_sample_once(run, choice, 2000)})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        rows.append({"model": f"{size[0]}x{size[1]}", "step_us": _step_times(run)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def _sample_once(run: str, device: str, length: int) -> dict:
    """One `chargen sample` process (start to first character, characters per second after it), and in
    this process the path the same choice takes and its time from a loaded model to the first character."""
    from chargen.store import runs
    from chargen.store.checkpoint import load_checkpoint
    from chargen.config import SamplingSettings
    from chargen.generate.cudastep import fastest_step_model
    from chargen.generate.sample import Sampler

    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "chargen", "sample", "-c", run, "--device", device, "--length", str(length),
                             "--seed", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    first = proc.stdout.read(1)
    first_at = time.perf_counter()
    rest = proc.stdout.read()
    end = time.perf_counter()
    if proc.wait() != 0 or not first:
        raise RuntimeError(f"chargen sample --device {device} failed: {proc.stderr.read().decode()}")

    saved = load_checkpoint(runs.find_checkpoint(run, Path(run).parent))
    ready = time.perf_counter()
    model = fastest_step_model(saved.model_config, saved.weights, device)
    chosen = time.perf_counter()
    sampler = Sampler(model, saved.vocab, SamplingSettings(0.8), seed=1)
    next(sampler.stream(1))
    return {"from_start_to_first_s": first_at - start, "choice_ms": 1e3 * (chosen - ready),
            "ready_to_first_ms": 1e3 * (time.perf_counter() - chosen), "path": type(model).__name__,
            "chars_per_s": len(rest.decode("utf-8", "replace")) / (end - first_at)}


def _step_times(run: str) -> dict:
    """Microseconds per batch-1 step of each path alone, without the sampler and the terminal."""
    from chargen.store import runs
    from chargen.store.checkpoint import load_checkpoint
    from chargen.generate.cudastep import CudaStepModel, seconds_per_step
    from chargen.generate.sample import StepModel

    saved = load_checkpoint(runs.find_checkpoint(run, Path(run).parent))
    paths = {"StepModel": StepModel(saved.model_config, saved.weights)}
    if torch.cuda.is_available():
        paths["CudaStepModel"] = CudaStepModel(paths["StepModel"])
    return {name: 1e6 * seconds_per_step(model, 500) for name, model in paths.items()}


def quality(minutes: list[float], device: torch.device) -> list[dict]:
    rows = []
    for m in minutes:
        r = quality_run(tinyshakespeare(), ("minutes", m), ["--device", str(device)])
        rows.append({"minutes": m, "val_loss": r["final_val_loss"], "val_bpc": r["final_val_bpc"],
                     "best_val_loss": r["best_val_loss"], "steps": r["steps"], "wall_s": r["wall_s"],
                     "model": r["model"], "train": r["train"], "curve": r["curve"]})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "curve"}), file=sys.stderr, flush=True)
    return rows


def grid(default: dict, device: torch.device, size: int) -> list[dict]:
    """Alternatives to a default run, step for step: the same characters read, one choice changed."""
    m, t = default["model"], default["train"]
    steps, width = default["steps"], m["hidden_size"]
    same = ["--device", str(device), "--precision", t["precision"], "--seq-len", str(t["seq_len"])]

    def option(layers, hidden, dropout, batch=t["batch_size"], steps=steps):
        lr = t["lr"] * width / hidden * math.sqrt(batch / t["batch_size"])
        return (("steps", steps), [*same, "--layers", str(layers), "--hidden-size", str(hidden), "--dropout", f"{dropout:g}",
                                   "--batch-size", str(batch), "--lr", f"{lr:.6g}", "--eval-every", str(max(steps // 10, 1))])

    options = [option(3, 1024, 0.5), option(m["layers"], width, m["dropout"], batch=t["batch_size"] * 2, steps=steps // 2),
               option(m["layers"], width, min(m["dropout"] + 0.2, 0.6)), option(2, 1024, 0.4),
               option(m["layers"], width, max(m["dropout"] - 0.1, 0.0))]
    rows = []
    for length, extra in options[:size]:
        r = quality_run(tinyshakespeare(), length, extra)
        rows.append({"of_minutes": default["minutes"], "extra": extra, "val_loss": r["final_val_loss"],
                     "best_val_loss": r["best_val_loss"], "steps": r["steps"], "wall_s": r["wall_s"],
                     "model": r["model"], "train": r["train"]})
        print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("model", "train")}), file=sys.stderr, flush=True)
    return rows


def _table(header: list[str], rows: list[list[str]]) -> None:
    print("\n| " + " | ".join(header) + " |\n|" + " --- |" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def _recipe(m: dict, t: dict) -> str:
    return (f"{m['cell']} {m['layers']}x{m['hidden_size']}, dropout {m['dropout']:g}, batch {t['batch_size']} x "
            f"{t['seq_len']}, lr {t['lr']:g}, {t['precision']}")


def print_tables(result: dict) -> None:
    c = result.get("ceilings", {})
    if c:
        print(f"\nmatrix product ceilings on {result['device']}: " + ", ".join(f"{k} {v:,.0f} TFLOP/s" for k, v in c.items()))
    fmt = lambda v: "" if v is None else v if isinstance(v, str) else f"{v / 1e6:,.2f}M"  # noqa: E731

    def achieved(r: dict) -> str:
        if not isinstance(r.get("bf16"), float):
            return ""
        tflops = r["bf16"] * 6 * r["weights"] / 1e12
        return f"{tflops:.1f}" + (f" ({100 * tflops / c['bf16']:.1f}%)" if "bf16" in c else "")

    if "throughput" in result:
        _table(["LSTM", "batch", "fp32 chars/s", "tf32 chars/s", "bf16 chars/s", "bf16 TFLOP/s (% of ceiling)",
                "bf16 without the host read"],
               [[r["model"], f"{r['batch']} x {r['seq']}", *(fmt(r.get(k)) for k in ("fp32", "tf32", "bf16")), achieved(r),
                 fmt(r.get("bf16_no_read"))] for r in result["throughput"]])
    if "sampling" in result:
        _table(["model", "--device", "path", "command start to first char", "choosing the path", "path ready to first char",
                "chars/s"],
               [[r["model"], r["device"], r["path"], f"{r['from_start_to_first_s']:.2f} s", f"{r['choice_ms']:.0f} ms",
                 f"{r['ready_to_first_ms']:.1f} ms", f"{r['chars_per_s']:,.0f}"] for r in result["sampling"] if "path" in r])
        for r in result["sampling"]:
            if "step_us" in r:
                print("\nbatch-1 step alone: " + ", ".join(f"{k} {v:,.0f} us" for k, v in r["step_us"].items()))
    if "quality" in result:
        _table(["minutes", "val nats/char", "bpc", "steps", "recipe"],
               [[f"{r['minutes']:g}", f"{r['val_loss']:.4f}", f"{r['val_bpc']:.4f}", f"{r['steps']:,}",
                 _recipe(r["model"], r["train"])] for r in result["quality"]])
    if "grid" in result:
        _table(["alternative (step for step with the default)", "val nats/char", "steps"],
               [[_recipe(r["model"], r["train"]), f"{r['val_loss']:.4f}", f"{r['steps']:,}"] for r in result["grid"]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="*", default=["ceilings", "throughput", "sampling", "quality", "grid"],
                    choices=["ceilings", "throughput", "sampling", "quality", "grid"])
    ap.add_argument("--grid-of", type=float, default=3, help="the budget (minutes) whose default run the grid follows")
    ap.add_argument("--grid", type=int, default=5, help="how many of the alternatives to run")
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 3, 10])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    result: dict = {"device": name}
    for part in args.parts:
        if part == "ceilings":
            result["ceilings"] = ceilings(device, args.quick)
        elif part == "throughput":
            result["throughput"] = throughput(device, args.quick)
        elif part == "sampling":
            result["sampling"] = sampling(device, args.quick)
        elif part == "quality":
            result["quality"] = quality(args.minutes, device)
        else:  # the default run of this invocation, else the latest saved one
            runs = [r for entry in [*common.load("gpu"), result] for r in entry.get("quality", [])
                    if r["minutes"] == args.grid_of]
            if not runs:
                raise SystemExit(f"no {args.grid_of:g}-minute default run to follow: run the quality part first")
            result["grid"] = grid(runs[-1], device, args.grid)
        if not args.no_save:  # after each part, so that a run cut short keeps what it measured
            common.save("gpu", [{"device": name, part: result[part]}])
    print_tables(result)


if __name__ == "__main__":
    main()
