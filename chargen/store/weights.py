"""A trained model in safetensors: the weights, and in the file's JSON metadata the model's options,
vocabulary, corpus facts, progress and the weights' SHA-256. Read with NumPy alone (no pickle, no torch),
so sampling, the REPL and `info` start at once; what resuming needs stays in latest.pt.

    best.safetensors     written beside best.pt at every save of it, atomically

Any program reads one in a few lines: `safetensors.numpy.load_file(path)` gives the arrays, and
`json.loads(safe_open(path, "np").metadata()["chargen"])` the record (docs/generating.md).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from chargen.errors import ChargenError, first_line
from chargen.store.files import write_atomically
from chargen.store.record import FORMAT_VERSION, Checkpoint

SUFFIX = ".safetensors"
METADATA_KEY = "chargen"  # the record, as JSON, under this key of the file's metadata


def numpy_digest(weights: dict[str, np.ndarray]) -> str:
    """The weights' SHA-256 exactly as chargen.store.checkpoint.weights_digest computes it on torch tensors."""
    h = hashlib.sha256()
    for name in sorted(weights):
        a = np.ascontiguousarray(weights[name])
        h.update(f"{name}|torch.{a.dtype.name}|{tuple(a.shape)}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_weights(path: Path, checkpoint: Checkpoint) -> None:
    """Write the model of `checkpoint` (weights as float32 arrays) and its record, atomically."""
    from safetensors.numpy import save

    arrays = {name: np.ascontiguousarray(as_float32(w)) for name, w in checkpoint.weights.items()}
    record = {k: v for k, v in checkpoint.payload().items() if k not in ("weights", "resume")}
    record.update(weights_sha256=numpy_digest(arrays), format_version=checkpoint.format_version)
    data = save(arrays, metadata={METADATA_KEY: json.dumps(record, ensure_ascii=False)})
    write_atomically(Path(path), lambda f: f.write(data))


def read_weights(path: Path) -> Checkpoint:
    """A model file, verified: a safetensors header that matches the file, the weights the record's model
    has (names, shapes, float32), and their SHA-256. Any problem is a ChargenError naming the file."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise ChargenError(f"model file {path} does not exist")
    try:
        with safe_open(str(path), framework="np") as f:
            meta = (f.metadata() or {}).get(METADATA_KEY)
            weights = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise ChargenError(f"model file {path} is corrupt ({first_line(e, 120)})") from None
    if meta is None:
        raise ChargenError(f"{path} is a safetensors file but not a chargen model (no '{METADATA_KEY}' metadata)")
    try:
        record = json.loads(meta)
        checkpoint = Checkpoint.from_payload({**record, "weights": weights})
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ChargenError(f"model file {path} is corrupt (its record: {first_line(e, 120)})") from None
    if not isinstance(checkpoint.format_version, int) or checkpoint.format_version > FORMAT_VERSION:
        raise ChargenError(f"model file {path} has format version {checkpoint.format_version}, newer than this "
                           f"chargen reads (up to {FORMAT_VERSION}); upgrade chargen")
    _check_shapes(path, checkpoint)
    if numpy_digest(weights) != checkpoint.weights_sha256:
        raise ChargenError(f"model file {path} is corrupt (its weights do not match their SHA-256)")
    return checkpoint


def _check_shapes(path: Path, checkpoint: Checkpoint) -> None:
    """The arrays are those of the record's model: the same names, shapes, and float32."""
    c = checkpoint.model_config
    G, H, V = c.gates * c.hidden_size, c.hidden_size, c.vocab_size
    expected = {"head.weight": (V, H), "head.bias": (V,)}
    if c.embed_dim:
        expected["embed.weight"] = (V, c.embed_dim)
    for k in range(c.layers):
        expected.update({f"rnn.weight_ih_l{k}": (G, c.input_size if k == 0 else H), f"rnn.weight_hh_l{k}": (G, H),
                         f"rnn.bias_ih_l{k}": (G,), f"rnn.bias_hh_l{k}": (G,)})
    got = {name: tuple(w.shape) for name, w in checkpoint.weights.items()}
    if got != expected:
        wrong = sorted(set(got) ^ set(expected)) or sorted(n for n in got if got[n] != expected[n])
        raise ChargenError(f"model file {path} is corrupt (its weights do not fit its model: {wrong[0]})")
    if bad := [name for name, w in checkpoint.weights.items() if w.dtype != np.float32]:
        raise ChargenError(f"model file {path} is corrupt ({bad[0]} is {checkpoint.weights[bad[0]].dtype}, not float32)")


def read_model(path: Path) -> Checkpoint:
    """A model to use (not to resume): a .safetensors file with NumPy alone, anything else as a checkpoint
    file with torch (runs of older chargen have only those)."""
    if Path(path).suffix == SUFFIX:
        return read_weights(path)
    from chargen.store.checkpoint import load_checkpoint

    return load_checkpoint(path)


def as_float32(w: Any) -> np.ndarray:
    """A weight as a float32 array, whether a torch tensor (training, a .pt) or an array (a .safetensors)."""
    return np.asarray(w.detach().cpu().float().numpy() if hasattr(w, "detach") else w, dtype=np.float32)
