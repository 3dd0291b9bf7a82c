"""The exported page in headless Chromium: its size, load time, first character and characters/s, beside
chargen's own NumPy sampler measured in the same run; and how far fp16 weights move the page's logits.

    python -m bench.export                 # results in bench/results/export.json
    python -m bench.export --no-save

Two LSTMs are made by `chargen train` on the bundled corpus in a temporary folder: 2x256 trained for
`--minutes` (so the fp16 comparison is on a model that has learned something) and 3x512 for a few steps
(its speed is what counts). For each, an fp16 page (the default) and an fp32 one are written by
`chargen export`, then in the browser, medians of `--runs`:

- load: from navigation to the page being ready (weights decoded, the model laid out);
- first character: from the click on Generate to the first character in the page, as a user sees it;
- characters/s through the buttons: Generate for 5,000 characters at temperature 0.8, drawing and
  colouring every character included; and the step and draw alone (`window.chargen.greedy`);
- fp16 against torch (2x256): over the fp32 model's 500-character greedy text read with teacher
  forcing, the mean |logit difference| and the share of steps whose likeliest character is the same;
  and how many characters the fp16 page's own greedy text agrees with chargen's before it first differs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import save

TARGETS = {"chars_per_s": 5000, "first_char_ms": 50, "page_mb": 2.5}  # issue 27's, for 2x256 in fp16
CHARS, GREEDY = 5000, 500
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]
MEASURE_CLICK = """() => new Promise((resolve) => {
  const out = document.getElementById("output"), status = document.getElementById("status"), button = document.getElementById("generate");
  let clicked, first;
  button.addEventListener("click", () => { clicked = performance.now(); }, { capture: true, once: true });
  const seen = new MutationObserver(() => {
    if (first === undefined && out.childNodes.length) first = performance.now();
    if (clicked !== undefined && first !== undefined && !status.dataset.busy) {
      seen.disconnect();
      resolve({ first_ms: first - clicked, seconds: (performance.now() - clicked) / 1000, chars: out.getElementsByTagName("span").length });
    }
  });
  seen.observe(out, { childList: true });
  seen.observe(status, { attributes: true });
  button.click();
})"""


def chargen(*args: object, cwd: Path) -> str:
    return subprocess.run([sys.executable, "-m", "chargen", *map(str, args)], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout


def numpy_chars_per_s(run: Path) -> float:
    """chargen's own sampler (chargen.generate.sample, NumPy), batch 1, temperature 0.8."""
    from chargen.config import SamplingSettings
    from chargen.generate.sample import sampler_for
    from chargen.store.weights import read_model

    sampler = sampler_for(read_model(run / "best.safetensors"), SamplingSettings(0.8), seed=1)
    start = time.perf_counter()
    for _ in sampler.stream(CHARS):
        pass
    return CHARS / (time.perf_counter() - start)


def open_page(browser, path: Path):
    """(page, seconds from navigation to ready)."""
    page = browser.new_page()
    start = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_selector("body[data-ready=yes]", state="attached", timeout=60_000)
    return page, time.perf_counter() - start


def measure_page(browser, path: Path, runs: int) -> dict:
    loads, firsts, rates, steps = [], [], [], []
    for _ in range(runs):
        page, load_s = open_page(browser, path)
        loads.append(load_s)
        page.fill("#length", str(CHARS))
        page.fill("#temperature", "0.8")
        page.fill("#seed", "1")
        clicked = page.evaluate(MEASURE_CLICK)
        firsts.append(clicked["first_ms"])
        rates.append(clicked["chars"] / clicked["seconds"])
        steps.append(page.evaluate(f"() => {{ const t = performance.now(); window.chargen.greedy('', {CHARS}); "
                                   f"return {CHARS} / ((performance.now() - t) / 1000); }}"))
        kernel = page.evaluate("window.chargen.kernel")
        page.close()
    return {"page_mb": round(path.stat().st_size / 1e6, 3), "load_ms": round(1000 * statistics.median(loads), 1),
            "first_char_ms": round(statistics.median(firsts), 1), "chars_per_s": round(statistics.median(rates)),
            "step_chars_per_s": round(statistics.median(steps)), "kernel": kernel}


def fp16_agreement(browser, fp16_page: Path, run: Path, folder: Path) -> dict:
    import torch

    from chargen.model.charrnn import CharRNN
    from chargen.store.weights import read_model

    prime = "\n"
    text = chargen("sample", "-c", run, "--temp", 0, "--prime", prime, "--length", GREEDY, cwd=folder).removesuffix("\n")
    saved = read_model(run / "best.safetensors")
    with torch.no_grad():
        theirs = CharRNN.trained(saved.model_config, saved.weights)(
            torch.as_tensor(saved.vocab.encode(text[:-1]), dtype=torch.long)[None])[0][0].numpy()
    page, _ = open_page(browser, fp16_page)
    ours = np.array(page.evaluate("t => window.chargen.logits(t)", text[:-1]))
    own = prime + "".join(s["ch"] for s in page.evaluate("([p, n]) => window.chargen.greedy(p, n)", [prime, GREEDY]))
    page.close()
    same = next((i for i, (a, b) in enumerate(zip(own, text)) if a != b), len(text)) - len(prime)
    return {"fp16_mean_abs_logit_diff": round(float(np.abs(ours - theirs).mean()), 5),
            "fp16_max_abs_logit_diff": round(float(np.abs(ours - theirs).max()), 5),
            "fp16_top_agreement": round(float((ours.argmax(1) == theirs.argmax(1)).mean()), 4),
            "fp16_greedy_same_chars": same, "greedy_chars": GREEDY}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="page loads per page (medians are kept)")
    parser.add_argument("--minutes", type=float, default=1.0, help="training of the 2x256 model")
    parser.add_argument("--no-save", action="store_true", help="print only; leave bench/results alone")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        sys.exit("bench.export needs Chromium (the system package chromium)")
    records = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        folder = Path(tmp)
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        shapes = {"2x256": ("--layers", 2, "--hidden-size", 256, "--minutes", args.minutes),
                  "3x512": ("--layers", 3, "--hidden-size", 512, "--steps", 5, "--eval-every", 5)}
        for shape, options in shapes.items():
            chargen("train", "--name", shape, *options, "-q", "--sample-length", 0, cwd=folder)
            run = folder / "checkpoints" / shape
            record = {"model": f"LSTM {shape}", "numpy_chars_per_s": round(numpy_chars_per_s(run))}
            for precision in ("fp16", "fp32"):
                page = folder / f"{shape}-{precision}.html"
                chargen("export", "-c", run, "-o", page, "--precision", precision, cwd=folder)
                record[precision] = measure_page(browser, page, args.runs)
            if shape == "2x256":
                record.update(fp16_agreement(browser, folder / "2x256-fp16.html", run, folder))
            records.append(record)
            half = record["fp16"]
            print(f"{record['model']}: fp16 page {half['page_mb']} MB, loads in {half['load_ms']} ms, first character "
                  f"{half['first_char_ms']} ms, {half['chars_per_s']:,} chars/s through the buttons "
                  f"({half['step_chars_per_s']:,} step and draw alone; chargen's NumPy sampler "
                  f"{record['numpy_chars_per_s']:,}); fp32 page {record['fp32']['page_mb']} MB, "
                  f"{record['fp32']['chars_per_s']:,} chars/s")
        browser.close()
    agreement = records[0]
    print(f"fp16 vs torch, 2x256: mean |logit diff| {agreement['fp16_mean_abs_logit_diff']}, same likeliest character "
          f"{agreement['fp16_top_agreement']:.1%} of {GREEDY} steps, greedy text the same for "
          f"{agreement['fp16_greedy_same_chars']} characters")
    print("targets (2x256, fp16): " + ", ".join(f"{k} {records[0]['fp16'][k]} (target {'>=' if k == 'chars_per_s' else '<='} {v})"
                                                for k, v in TARGETS.items()))
    if not args.no_save:
        save("export", records)


if __name__ == "__main__":
    main()
