"""`chargen export -o model.html`: one self-contained page that generates with the model in any browser.

Everything is inside the file, so it works opened from disk (file://) with no network: the model's
record as JSON, its weights as base64 (fp16 by default, about half the size; fp32 for exactness), the
WebAssembly kernel (chargen.export.kernel) and the step and sampler in JavaScript (playground.js).
Text from the corpus, the vocabulary or the run name reaches the page only as escaped text or inside
JSON whose <, > and & are written as \\u escapes, so none of it can be read as markup.
"""

from __future__ import annotations

import base64
import json
from html import escape
from importlib import resources
from typing import Any

import numpy as np

from chargen.export.kernel import PANEL, module
from chargen.generate.sample import start_char
from chargen.store.record import Checkpoint
from chargen.store.weights import as_float32

PAGE_FORMAT = "chargen-page"
PAGE_VERSION = 1
MODEL_ID, WEIGHTS_ID = "chargen-model", "chargen-weights"
PRECISIONS = {"fp16": np.float16, "fp32": np.float32}


def _script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element: no <, > or & that a parser could take for markup."""
    return (json.dumps(value, ensure_ascii=True, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def page_record(checkpoint: Checkpoint, facts: dict[str, Any], precision: str) -> tuple[dict[str, Any], bytes]:
    """(the page's record, the weights' bytes): every tensor in one little-endian array at its offset."""
    dtype = np.dtype(PRECISIONS[precision]).newbyteorder("<")
    tensors, chunks, offset = [], [], 0
    for name in sorted(checkpoint.weights):
        array = as_float32(checkpoint.weights[name])
        tensors.append([name, list(array.shape), offset])
        chunks.append(array.astype(dtype).ravel())
        offset += array.size
    c = checkpoint.model_config
    record = {"format": PAGE_FORMAT, "version": PAGE_VERSION, "precision": precision, "panel": PANEL,
              "config": {"cell": c.cell, "layers": c.layers, "hidden_size": c.hidden_size, "embed_dim": c.embed_dim,
                         "vocab_size": c.vocab_size},
              "vocab": list(checkpoint.vocab.chars), "lines": checkpoint.lines,
              "start_char": start_char(checkpoint.vocab.chars),  # a line-mode model's: the item boundary
              "tensors": tensors, "facts": facts}
    return record, np.concatenate(chunks).tobytes()


def _describe(facts: dict[str, Any]) -> str:
    cell = {"lstm": "LSTM", "gru": "GRU", "rnn-tanh": "tanh RNN", "rnn-relu": "ReLU RNN"}[facts["cell"]]
    parts = [f"{cell} {facts['layers']}×{facts['hidden_size']}", f"{facts['parameters']:,} weights",
             f"trained on {facts['name']}"] + ([f"run {facts['run']}"] if facts["run"] != facts["name"] else [])
    if facts.get("best_val_bpc") is not None:
        parts.append(f"validation {facts['best_val_bpc']:.3f} bits/char")
    if facts["mode"] == "lines":
        parts.append("one item per line")
    return " · ".join(parts)


def build_page(checkpoint: Checkpoint, facts: dict[str, Any], precision: str = "fp16") -> str:
    """The whole page as text."""
    record, weights = page_record(checkpoint, facts, precision)
    files = resources.files("chargen.export")
    script = files.joinpath("playground.js").read_text(encoding="utf-8")
    style = files.joinpath("playground.css").read_text(encoding="utf-8")
    title = f"{facts['name']}: a chargen model"
    items = ('<label>items <input id="items" type="number" min="1" value="10"></label>'
             '<button id="generate-items">Generate items</button>') if checkpoint.lines else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'wasm-unsafe-eval'; style-src 'unsafe-inline'">
<title>{escape(title)}</title>
<style>{style}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p class="lede" id="about">{escape(_describe(facts))}</p>
<div class="controls">
<label class="prime">prime <textarea id="prime" rows="2" spellcheck="false"></textarea></label>
<label>temperature <input id="temperature" type="number" min="0" step="0.1" value="0.8"></label>
<label>top-k <input id="top-k" type="number" min="1" step="1" placeholder="all"></label>
<label>top-p <input id="top-p" type="number" min="0" max="1" step="0.05" placeholder="1"></label>
<label>length <input id="length" type="number" min="1" step="100" value="500"></label>
<label>seed <input id="seed" type="number" step="1" placeholder="random"></label>
<button id="generate">Generate</button><button id="continue">Continue</button><button id="stop">Stop</button>{items}
</div>
<p id="status" class="status">loading…</p>
<div id="output" class="text" aria-live="polite"></div>
<p class="legend">Each character's background is how surprised the model was to write it: white is certain, red is 8 bits or more. Hover for its probability.</p>
<script type="application/json" id="{MODEL_ID}">{_script_json(record)}</script>
<script type="application/octet-stream" id="{WEIGHTS_ID}">{base64.b64encode(weights).decode()}</script>
<script>
const KERNEL = "{base64.b64encode(module()).decode()}";
{script}
</script>
</body>
</html>
"""


def read_page_record(text: str) -> dict[str, Any] | None:
    """The record embedded in a page's text, or None when it holds none."""
    start = text.find(f'id="{MODEL_ID}">')
    if start < 0:
        return None
    start += len(f'id="{MODEL_ID}">')
    end = text.find("</script>", start)
    try:
        record = json.loads(text[start:end])
    except ValueError:
        return None
    return record if isinstance(record, dict) and record.get("format") == PAGE_FORMAT else None
