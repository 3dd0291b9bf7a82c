"""The HTML views in a real browser: headless Chromium (the system's package) loads each page with no
console errors, its screenshot is not blank, the colours show with JavaScript off, and corpus text
holding markup reads as the characters it is."""

import io
import shutil

import numpy as np
import pytest

from conftest import HOSTILE, chargen

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright (the test extra) is not installed")
Image = pytest.importorskip("PIL.Image", reason="pillow (the test extra) is not installed")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: install the system package chromium "
                                                          "(.ci/run does) to check the HTML views in a browser")]
# As the environment notes advise for a closed network: no sandbox as root, no background traffic.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def pages(trained_run, tmp_path_factory):
    """The report, heat map and cell pages of conftest's trained_run, whose text holds HOSTILE's markup."""
    root = tmp_path_factory.mktemp("browser")
    run = trained_run.path
    commands = {"report": ["report", str(run), "-o", str(root / "report.html")],
                "heatmap": ["heatmap", "-c", str(run), "--text", HOSTILE * 2, "--html", str(root / "heatmap.html")],
                "neurons": ["neurons", "-c", str(run), "--text", HOSTILE * 2, "--gates", "--html", str(root / "neurons.html")]}
    for name, args in commands.items():
        result = chargen(*args)
        assert result.exit_code == 0, result.output
    return {name: root / f"{name}.html" for name in commands}


def load(path, javascript=True):
    """(console errors and uncaught exceptions, screenshot PNG, the text of the page's first .text block)."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(java_script_enabled=javascript)
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri(), wait_until="load")
            shown = page.inner_text(".text") if page.query_selector(".text") else ""
            return errors, page.screenshot(full_page=True), shown
        finally:
            browser.close()


@pytest.mark.parametrize("name", ["report", "heatmap", "neurons"])
def test_each_page_loads_without_errors_and_is_not_blank(pages, name):
    errors, png, _ = load(pages[name])
    assert errors == []
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert pixels.shape[0] > 300
    colours = np.unique(pixels[::4, ::4].reshape(-1, 3), axis=0)
    assert len(colours) > 20  # text, colours and charts, not an empty page


def test_colours_show_with_javascript_off_and_markup_reads_as_text(pages):
    errors, png, shown = load(pages["heatmap"], javascript=False)
    assert errors == []
    r, g, b = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int).transpose(2, 0, 1)
    assert ((r > 230) & (g < 200) & (b < 180)).sum() > 100  # surprising characters on their red background
    assert '"<script>alert(1)</script>" & left </div> the &amp; room.' in shown.replace("⏎", "")
