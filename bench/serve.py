"""`chargen serve` under load, loopback only: many streaming clients at once against one server.

    python -m bench.serve                  # results in bench/results/serve.json
    python -m bench.serve --clients 1 8 --chars 500 --no-save

A 2x256 LSTM is made by `chargen train` on the bundled corpus (a few steps: speed does not depend on
training) in a temporary folder and served by `chargen serve` in a process of its own. For each count
of clients, that many streaming requests of `--chars` characters each (temperature 0.8, each its own
seed) start together: the total characters/s from the first request to the last character, the time
from each request to its first character (p50, p99), and the requests that failed. The single
client's figure, measured in the same run, is the reference the others are compared with; beside each,
the ceiling: the engine stepping as many streams in this process, with no HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import save, untrained_run

TARGETS = {"speedup_at_32": 8.0, "first_char_p99_ms_at_32": 100.0}  # issue 28's


async def one_client(client, url: str, chars: int, seed: int) -> tuple[float, int]:
    """(seconds to the first character, characters received) for one streaming request."""
    body = {"prompt": "", "max_tokens": chars, "temperature": 0.8, "seed": seed, "stream": True}
    start, first, got = time.perf_counter(), None, 0
    async with client.stream("POST", f"{url}/v1/completions", json=body, timeout=120) as response:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            text = "".join(c["text"] for c in json.loads(line[6:])["choices"])
            if text and first is None:
                first = time.perf_counter() - start
            got += len(text)
    return first if first is not None else float("nan"), got


async def load(url: str, clients: int, chars: int) -> dict:
    import httpx

    limits = httpx.Limits(max_connections=clients + 8, max_keepalive_connections=clients + 8)
    async with httpx.AsyncClient(limits=limits) as client:
        start = time.perf_counter()
        results = await asyncio.gather(*(one_client(client, url, chars, seed) for seed in range(clients)),
                                       return_exceptions=True)
        seconds = time.perf_counter() - start
    done = [r for r in results if not isinstance(r, BaseException) and r[1] == chars]
    firsts = sorted(1000 * r[0] for r in done)
    p99 = firsts[min(len(firsts) - 1, int(round(0.99 * (len(firsts) - 1))))] if firsts else None
    return {"clients": clients, "chars_each": chars, "seconds": round(seconds, 3),
            "chars_per_s": round(sum(r[1] for r in done) / seconds), "errors": clients - len(done),
            "first_char_p50_ms": round(statistics.median(firsts), 1) if firsts else None,
            "first_char_p99_ms": round(p99, 1) if p99 is not None else None}


def engine_chars_per_s(run: Path, streams: int, chars: int) -> float:
    """The ceiling: chargen.serve.engine stepping `streams` streams in this process, no HTTP at all."""
    from chargen.config import SamplingSettings
    from chargen.generate.sample import StepModel
    from chargen.serve.engine import Engine, Stream
    from chargen.store.weights import read_model

    saved = read_model(run / "best.safetensors")
    engine = Engine(StepModel(saved.model_config, saved.weights), saved.vocab, streams, lambda *a: None)
    for seed in range(streams):
        engine._admit(Stream("", 1, chars, SamplingSettings(0.8), seed))
    start = time.perf_counter()
    while engine._active:
        engine._step()
    return streams * chars / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--chars", type=int, default=1000, help="characters each client asks for")
    parser.add_argument("--no-save", action="store_true", help="print only; leave bench/results alone")
    args = parser.parse_args()
    chargen = [sys.executable, "-m", "chargen"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        run = untrained_run(folder)
        server = subprocess.Popen([*chargen, "serve", "-c", "run", "--port", "0"], cwd=folder, stderr=subprocess.PIPE,
                                  text=True)
        try:
            url = next(m[1] for line in server.stderr if (m := re.search(r"at (http://\S+?)/ ", line)))
            asyncio.run(load(url, 1, min(args.chars, 100)))  # warm: the first request pays for imports
            rows = [asyncio.run(load(url, n, args.chars)) for n in args.clients]
            for row in rows:
                row["engine_chars_per_s"] = round(engine_chars_per_s(run, row["clients"], args.chars))
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
    single = next((r["chars_per_s"] for r in rows if r["clients"] == 1), None)
    for r in rows:
        r["speedup"] = round(r["chars_per_s"] / single, 2) if single else None
        print(f"{r['clients']:4d} clients: {r['chars_per_s']:8,} chars/s ({r['speedup']}x one client), first character "
              f"p50 {r['first_char_p50_ms']} ms, p99 {r['first_char_p99_ms']} ms, {r['errors']} errors; the engine "
              f"alone {r['engine_chars_per_s']:,} chars/s")
    at32 = next((r for r in rows if r["clients"] == 32), None)
    if at32:
        print(f"targets at 32 clients: {at32['speedup']}x (target >= {TARGETS['speedup_at_32']}x), first character p99 "
              f"{at32['first_char_p99_ms']} ms (target < {TARGETS['first_char_p99_ms_at_32']} ms), "
              f"errors {sum(r['errors'] for r in rows)} (target 0)")
    if not args.no_save:
        save("serve", [{"model": "LSTM 2x256", "loads": rows}])


if __name__ == "__main__":
    main()
