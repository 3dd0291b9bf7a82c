"""Speed and memory benchmark: every figure measured in one run beside its reference.

    python -m bench.speed                 # a table on stdout; the figures appended to bench/results/speed.json
    python -m bench.speed --large-mb 1024 # the memory row on a 1 GB generated corpus (default 256 MB)
    python -m bench.speed --profile       # where a 3x512 training step's time goes, by operator
    python -m bench.speed --index-mb 100  # the novelty index row on a 100 MB generated corpus (the default)

Rows: the fp32 matmul ceiling; the throughput of chargen's training step alone (chargen.train.step,
on random ids) for LSTM/GRU stacks as a fraction of it (and with bf16 autocast, where the CPU has bf16
arithmetic); chargen's full training loop against that step alone; sampling chars/s at batch 1
and 32; first-character latency after a prompt; `chargen --help` time; peak memory and encoding
speed on a large generated corpus. Every time is the median of several calls (bench/common.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from bench import common
from bench.common import seconds_per_call, training_step
from bench.corpora import tinyshakespeare
from chargen.config import ModelConfig, SamplingSettings, TrainConfig
from chargen.data.vocab import Vocab
from chargen.generate.sample import Sampler, StepModel
from chargen.model.charrnn import CharRNN
from chargen.model.device import usable_precisions


def matmul_ceiling() -> float:
    rates = []
    for n in (512, 1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        rates.append(2 * n**3 / seconds_per_call(lambda: a @ b, min_s=0.2, min_reps=5) / 1e9)
    return max(rates)


def train_rate(config: ModelConfig, batch: int, seq: int, steps: int, precision: str = "fp32") -> float:
    """The hardware's rate for this model: chars/s of chargen's training step alone (the median of at
    least `steps` steps)."""
    step = training_step(config, batch, seq, precision)
    return batch * seq / seconds_per_call(step, warmup=1, min_s=0.5, min_reps=steps)


def full_loop_overhead(corpus: Path, rounds: int, block: int = 10) -> tuple[float, float]:
    """(chargen loop chars/s, bare loop chars/s) for the default model and batch; the bare loop is the
    loop's own training step (chargen.train.step) on random ids, with no data, schedule or bookkeeping.

    The two alternate in blocks of `block` steps and each keeps its median block, so a neighbour's
    burst of load on a shared machine hits both alike.
    """
    from chargen.train.launch import new_trainer
    from chargen.train.reports import Step
    from chargen.train.request import RunRequest

    cfg = TrainConfig(steps=10**9, eval_every=10**9, val_fraction=0.1, warmup_steps=10)
    chars = cfg.batch_size * cfg.seq_len * block
    with tempfile.TemporaryDirectory() as tmp:
        trainer = new_trainer(RunRequest([str(corpus)], {}, cfg, Path(tmp) / "run"))
        reports = trainer.run()
        bare = training_step(trainer.model_config, cfg.batch_size, cfg.seq_len)

        def loop_block() -> None:
            done = 0
            while done < block:
                done += isinstance(next(reports), Step)

        def bare_block() -> None:
            for _ in range(block):
                bare()

        loop_block()  # the first steps of a run start it up
        bare_block()
        once = {"warmup": 0, "min_s": 0.0, "min_reps": 1}  # one block each, alternately
        loop_times, bare_times = [], []
        for _ in range(rounds):
            loop_times.append(seconds_per_call(loop_block, **once))
            bare_times.append(seconds_per_call(bare_block, **once))
        reports.close()
    return chars / float(np.median(loop_times)), chars / float(np.median(bare_times))


def sampling(config: ModelConfig, batch: int, chars: int) -> float:
    torch.manual_seed(0)
    model = StepModel(config, CharRNN(config).state_dict())
    vocab = Vocab("".join(chr(32 + i) for i in range(config.vocab_size)))
    sampler = Sampler(model, vocab, SamplingSettings(0.8), seed=0, batch_size=batch)

    def draw() -> None:
        for _ in sampler.stream(chars):
            pass

    return chars * batch / seconds_per_call(draw, warmup=1, min_s=0.5)


def first_char_latency(config: ModelConfig, prompt_len: int = 60) -> float:
    torch.manual_seed(0)
    model = StepModel(config, CharRNN(config).state_dict())
    vocab = Vocab("".join(chr(32 + i) for i in range(config.vocab_size)))
    prompt = "".join(vocab.chars[i % vocab.size] for i in range(prompt_len))

    def once():
        sampler = Sampler(model, vocab, SamplingSettings(0.8), seed=0)
        sampler.feed(prompt)
        next(sampler.stream(1))

    return seconds_per_call(once, min_s=0.0, min_reps=20)


def help_time() -> float:
    cmd = [sys.executable, "-m", "chargen", "--help"]
    return seconds_per_call(lambda: subprocess.run(cmd, capture_output=True, check=True), warmup=1, min_s=0.0,
                            min_reps=5)


def large_corpus(mb: int, folder: Path) -> Path:
    """A generated corpus: random words from a 5,000-word vocabulary, with some non-ASCII characters."""
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzéü"))
    words = ["".join(rng.choice(letters, rng.integers(2, 9))) for _ in range(5000)]
    block = " ".join(rng.choice(words, 200_000)) + "\n"
    path = folder / f"large-{mb}mb.txt"
    with open(path, "w", encoding="utf-8") as f:
        written = 0
        while written < mb << 20:
            f.write(block)
            written += len(block.encode())
    return path


def large_corpus_run(mb: int) -> dict:
    """Encode then train briefly on a large corpus in a child process; its peak RSS and encoding speed."""
    with tempfile.TemporaryDirectory() as tmp:
        path = large_corpus(mb, Path(tmp))
        size = path.stat().st_size
        env = {**os.environ, "CHARGEN_CACHE_DIR": str(Path(tmp) / "cache")}
        # Peak memory is the child's own VmHWM (ru_maxrss would carry this process's peak across exec).
        peak = "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0], file=sys.stderr)"
        encode = ("import sys, time; from chargen.data.corpus import load_corpus; "
                  "t = time.perf_counter(); c = load_corpus([sys.argv[1]]); "
                  f"print(time.perf_counter() - t, len(c)); {peak}")
        done = subprocess.run([sys.executable, "-c", encode, str(path)], env=env, capture_output=True, text=True,
                              check=True)
        encode_s, chars = float(done.stdout.split()[0]), int(done.stdout.split()[1])
        encode_kb = int(done.stderr.split()[-1])
        train = (f"import atexit, runpy, sys; atexit.register(lambda: {peak}); "
                 "sys.argv = ['chargen', 'train', *sys.argv[1:]]; runpy.run_module('chargen', run_name='__main__')")
        done = subprocess.run([sys.executable, "-c", train, str(path), "--steps", "60", "--eval-every", "30",
                               "--val-fraction", "0.001", "--checkpoint-dir", str(Path(tmp) / "ck"), "--quiet",
                               "--sample-length", "0"], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"training on the large corpus failed: {done.stderr}")
        train_kb = int(done.stderr.split()[-1])
        return {"corpus_mb": size / 2**20, "chars": chars, "encode_mb_per_s": size / 2**20 / encode_s,
                "encode_peak_rss_mb": encode_kb / 1024, "train_peak_rss_mb": train_kb / 1024}


def ngram_index_run(mb: int) -> dict:
    """Build the novelty n-gram index of a generated corpus in a child process: its time and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        path = large_corpus(mb, Path(tmp))
        env = {**os.environ, "CHARGEN_CACHE_DIR": str(Path(tmp) / "cache")}
        code = ("import sys, time; from chargen.data.corpus import load_corpus; from chargen.views.novelty import NgramIndex; "
                "ids = load_corpus([sys.argv[1]]).ids; t = time.perf_counter(); index = NgramIndex.build(ids); "
                "print(time.perf_counter() - t, len(ids), sum(len(h) for h in index.sets.values())); "
                "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0], file=sys.stderr)")
        done = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True,
                              check=True)
        seconds, chars, entries = done.stdout.split()
        return {"corpus_mb": path.stat().st_size / 2**20, "chars": int(chars), "seconds": float(seconds),
                "distinct_ngrams": int(entries), "peak_rss_mb": int(done.stderr.split()[-1]) / 1024}


def profile_step(config: ModelConfig, batch: int, seq: int) -> str:
    """Where a bare training step's time goes, by operator (torch.profiler, 3 steps after 2 warm-ups)."""
    from torch.profiler import ProfilerActivity, profile

    step = training_step(config, batch, seq)
    for _ in range(2):  # warm-up
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large-mb", type=int, default=256, help="size of the generated corpus for the memory row")
    parser.add_argument("--corpus", type=Path, default=tinyshakespeare())
    parser.add_argument("--index-mb", type=int, default=100, help="size of the corpus the n-gram index row builds")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and no 3x512 rows")
    parser.add_argument("--profile", action="store_true", help="only: where a 3x512 training step's time goes")
    args = parser.parse_args()
    if args.profile:
        print(profile_step(ModelConfig(vocab_size=65, layers=3, hidden_size=512), 64, 128))
        return
    steps = 2 if args.quick else 4
    rows: list[tuple[str, str, str]] = []
    result: dict = {}

    ceiling = matmul_ceiling()
    result["matmul_gflops"] = ceiling
    rows.append(("fp32 matmul ceiling", f"{ceiling:.0f} GFLOP/s", "reference"))

    shapes = [(2, 128), (2, 256)] + ([] if args.quick else [(3, 512)])
    result["train"] = {}
    for cell in ("lstm", "gru"):
        for layers, hidden in shapes:
            config = ModelConfig(vocab_size=65, cell=cell, layers=layers, hidden_size=hidden)
            rate = train_rate(config, 64, 128, steps)
            gflops = rate * config.train_flops_per_char() / 1e9
            key = f"{cell} {layers}x{hidden}"
            result["train"][key] = {"chars_per_s": rate, "gflops": gflops, "of_ceiling": gflops / ceiling}
            rows.append((f"train {key}, batch 64 x 128", f"{rate:,.0f} chars/s",
                         f"{gflops:.0f} GFLOP/s = {gflops / ceiling:.0%} of ceiling"))

    # The time-budget recipe's model and batch: smaller steps, less efficient per FLOP, more of them.
    config = ModelConfig(vocab_size=65)
    rate = train_rate(config, 32, 64, steps * 5)
    gflops = rate * config.train_flops_per_char() / 1e9
    result["train"]["lstm 2x256 b32 s64"] = {"chars_per_s": rate, "gflops": gflops, "of_ceiling": gflops / ceiling}
    rows.append(("train lstm 2x256, batch 32 x 64", f"{rate:,.0f} chars/s",
                 f"{gflops:.0f} GFLOP/s = {gflops / ceiling:.0%} of ceiling"))

    if "bf16" in usable_precisions(torch.device("cpu")):  # the time-budget recipe's choice where it is faster
        for layers, hidden in shapes[1:]:
            key = f"lstm {layers}x{hidden}"
            config = ModelConfig(vocab_size=65, layers=layers, hidden_size=hidden)
            rate = train_rate(config, 64, 128, steps, precision="bf16")
            speedup = rate / result["train"][key]["chars_per_s"]
            result["train"][f"{key} bf16"] = {"chars_per_s": rate, "speedup_over_fp32": speedup}
            rows.append((f"train {key} bf16 autocast, batch 64 x 128", f"{rate:,.0f} chars/s",
                         f"{speedup:.2f}x fp32 (not counted against the fp32 ceiling)"))

    if args.corpus.is_file():
        loop, bare = full_loop_overhead(args.corpus, 4 if args.quick else 8)
        result["full_loop"] = {"chargen_chars_per_s": loop, "bare_chars_per_s": bare, "overhead": bare / loop - 1}
        rows.append(("chargen loop vs bare, 2x256 b32 s64", f"{loop:,.0f} vs {bare:,.0f} chars/s",
                     f"overhead {bare / loop - 1:+.1%}"))

    default = ModelConfig(vocab_size=65)
    for batch in (1, 32):
        rate = sampling(default, batch, 2000 if batch == 1 else 500)
        result[f"sample_b{batch}_chars_per_s"] = rate
        rows.append((f"sample 2x256 LSTM, batch {batch}", f"{rate:,.0f} chars/s", ""))
    latency = first_char_latency(default)
    result["first_char_latency_ms"] = latency * 1000
    rows.append(("first character after a 60-char prompt", f"{latency * 1000:.1f} ms", ""))

    help_s = help_time()
    result["help_s"] = help_s
    rows.append(("chargen --help", f"{help_s:.3f} s", "torch not imported"))

    if args.large_mb > 0:
        big = large_corpus_run(args.large_mb)
        result["large_corpus"] = big
        rows.append((f"encode {big['corpus_mb']:.0f} MB corpus", f"{big['encode_mb_per_s']:.0f} MB/s",
                     f"peak RSS {big['encode_peak_rss_mb']:.0f} MB"))
        rows.append((f"train on {big['corpus_mb']:.0f} MB corpus", f"peak RSS {big['train_peak_rss_mb']:.0f} MB",
                     "corpus memory-mapped"))

    if args.index_mb > 0:
        index = ngram_index_run(args.index_mb)
        result["ngram_index"] = index
        rows.append((f"novelty n-gram index, {index['corpus_mb']:.0f} MB corpus", f"{index['seconds']:.1f} s",
                     f"{index['distinct_ngrams'] / 1e6:.0f}M hashes kept, peak RSS {index['peak_rss_mb']:.0f} MB"))

    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':<28}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:<28}  {note}")
    common.save("speed", [result])


if __name__ == "__main__":
    main()
