"""Checkpoint files (.pt): safely loaded, verified, atomically written.

On disk a checkpoint is one torch zip file holding only tensors and plain Python values: the model
config, the vocabulary, the weights and their SHA-256, and (for resuming) the training state. It is
loaded with `weights_only=True`, so no code in a file ever runs, and written through a temporary file
renamed over the old one, so a crash never leaves a half-written file. In memory it is a
`chargen.store.record.Checkpoint`.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from chargen.errors import ChargenError, first_line
from chargen.store.files import write_atomically
from chargen.store.record import FORMAT_VERSION, Checkpoint

def weights_digest(weights: dict[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of the weights, in name order."""
    h = hashlib.sha256()
    for name in sorted(weights):
        t = weights[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def all_finite(weights: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in weights.values() if t.is_floating_point())


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write atomically (chargen.store.files); raises OSError on failure, `path` then untouched."""
    checkpoint.weights_sha256 = write_payload(path, checkpoint.payload())
    checkpoint.format_version = FORMAT_VERSION


def load_checkpoint(path: Path) -> Checkpoint:
    """Load and verify; any problem with the file is a ChargenError that names it."""
    return Checkpoint.from_payload(read_payload(path))


def write_payload(path: Path, payload: dict[str, Any]) -> str:
    """The file's contents as they are written, stamped with the format and the weights' digest (returned)."""
    weights = payload["weights"]
    if not all_finite(weights):
        raise ValueError("refusing to save non-finite weights")  # the trainer never lets this happen
    payload = {**payload, "format_version": FORMAT_VERSION, "weights_sha256": weights_digest(weights)}
    write_atomically(Path(path), lambda f: torch.save(payload, f))
    return payload["weights_sha256"]


def read_payload(path: Path) -> dict[str, Any]:
    """A file's contents, verified: its zip records' CRCs, no code, a known format, intact weights."""
    path = Path(path)
    if not path.is_file():
        raise ChargenError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise ChargenError(f"checkpoint {path} is corrupt (the file is empty)")
    try:
        # Every record of the zip carries a CRC-32: check them all, the pickle and optimizer state too.
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
        if damaged is not None:
            raise ChargenError(f"checkpoint {path} is corrupt (record {damaged} fails its checksum)")
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except ChargenError:
        raise
    except pickle.UnpicklingError as e:
        # Only a pickle that names a global (a class, a function) could run code; any other refusal of the
        # weights-only unpickler (an unknown opcode) is damage that the zip checksums did not cover.
        if "global" in str(e).lower():
            raise ChargenError(
                f"checkpoint {path} contains Python objects that could run code; refusing to load it"
            ) from None
        detail = str(e).partition("WeightsUnpickler error:")[2].strip() or str(e)
        raise ChargenError(f"checkpoint {path} is corrupt ({first_line(detail, 120)})") from None
    except Exception as e:  # noqa: BLE001 - damaged bytes past the checksums fail in the unpickler's own ways
        raise ChargenError(f"checkpoint {path} is corrupt ({first_line(e, 120)})") from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise ChargenError(f"{path} is not a chargen checkpoint")
    version = payload["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ChargenError(
            f"checkpoint {path} has format version {version}, newer than this chargen reads "
            f"(up to {FORMAT_VERSION}); upgrade chargen"
        )
    try:
        intact = weights_digest(payload["weights"]) == payload["weights_sha256"]
    except (KeyError, AttributeError, TypeError, RuntimeError):
        intact = False
    if not intact:
        raise ChargenError(f"checkpoint {path} is corrupt (its weights do not match their SHA-256)")
    return payload
