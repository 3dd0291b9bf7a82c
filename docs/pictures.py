"""README's pictures, from a trained run: the same commands a user types, then a screenshot of each page.

    chargen train --minutes 5 --name shakespeare     # the first README command, named
    python docs/pictures.py shakespeare              # docs/gradflow.png, loss.png, heatmap.png, neurons.png, report.png,
                                                     # export-page.png
    python docs/pictures.py shakespeare --loss-runs names   # the loss curves of other runs
    python docs/pictures.py shakespeare --only export       # one of them

The HTML views are screenshotted in headless Chromium (the system package) through playwright, the
test extra; gradflow and the loss curves are written by chargen itself (matplotlib, the plot extra).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# Held-out lines with quotes, brackets and line structure, so that the surprise and cell views have something to show.
TEXT = """KING RICHARD II:
Now, cousin, (since thou art) the king's own blood,
Say "farewell" to the realm; and tell me, why
Dost thou so hastily forsake our court?
"""
VIEWPORT = {"width": 1100, "height": 760}
PICTURES = ["gradflow", "loss", "heatmap", "neurons", "report", "export"]


def chargen(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "chargen", *args], check=True)


def screenshot(page_file: Path, png: Path, height: int, generate: bool = False) -> None:
    """The top of a page; with `generate`, an exported page after it has written from a prime."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={**VIEWPORT, "height": height})
            page.goto(page_file.as_uri(), wait_until="load")
            if generate:  # as tests/test_export.py presses the buttons
                page.wait_for_selector("body[data-ready=yes]", state="attached")
                for field, value in (("prime", "ROMEO:"), ("length", "600"), ("seed", "1")):
                    page.fill(f"#{field}", value)
                page.click("#generate")
                page.wait_for_selector("#status:not([data-busy])", state="attached")
            page.screenshot(path=str(png))  # the top of the page: what a reader sees first
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run name or folder (chargen's -c)")
    parser.add_argument("--checkpoint-dir", default="checkpoints")
    parser.add_argument("--loss-runs", nargs="+", help="the runs whose loss curves docs/loss.png shows (default: RUN)")
    parser.add_argument("--only", choices=PICTURES, help="make this picture alone")
    args = parser.parse_args()
    wanted = [args.only] if args.only else PICTURES
    run = ["-c", args.run, "--checkpoint-dir", args.checkpoint_dir]
    if "gradflow" in wanted:
        chargen("gradflow", "-o", str(DOCS / "gradflow.png"))
    if "loss" in wanted:
        chargen("plot", *(args.loss_runs or [args.run]), "--checkpoint-dir", args.checkpoint_dir, "-o", str(DOCS / "loss.png"))
    with tempfile.TemporaryDirectory() as tmp:
        pages = Path(tmp)
        makes = {"heatmap": ["heatmap", *run, "--text", TEXT, "-o", str(pages / "heatmap.html")],
                 "neurons": ["neurons", *run, "--text", TEXT, "--gates", "-o", str(pages / "neurons.html")],
                 "report": ["report", args.run, "--checkpoint-dir", args.checkpoint_dir, "-o", str(pages / "report.html")],
                 "export": ["export", *run, "-o", str(pages / "export.html")]}
        for name, height in (("heatmap", 520), ("neurons", 760), ("report", 900), ("export", 620)):
            if name in wanted:
                chargen(*makes[name])
                png = DOCS / ("export-page.png" if name == "export" else f"{name}.png")
                screenshot(pages / f"{name}.html", png, height, generate=name == "export")


if __name__ == "__main__":
    main()
