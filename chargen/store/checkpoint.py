"""Self-contained checkpoints: safely loaded, verified, atomically written.

A checkpoint is one torch zip file holding only tensors and plain Python values: the model config,
the vocabulary, the weights and their SHA-256, and (for resuming) the training state. It is loaded
with `weights_only=True`, so no code in a file ever runs, and it is written to a temporary file in
the same folder, fsynced and renamed over the old one, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import pickle
import zipfile
import zlib
from pathlib import Path
from typing import Any

import torch

from chargen.errors import ChargenError

FORMAT_VERSION = 2  # 2: several processes' generators, line mode, a parent model; version 1 files still load
TMP_MARKER = ".tmp-"  # temporary files are named .<name>.tmp-<pid> beside their target


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


def describe_os_error(e: OSError) -> str:
    """A short human cause for a failed write."""
    return {
        errno.ENOSPC: "disk full",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOENT: "the folder vanished",
    }.get(e.errno, e.strerror or str(e))


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a temporary file beside `path`, fsync, rename, fsync the folder.

    Raises OSError on failure, after removing the temporary file; `path` is then untouched.
    """
    weights = payload["weights"]
    if not all_finite(weights):
        raise ValueError("refusing to save non-finite weights")  # the trainer never lets this happen
    payload = {**payload, "format_version": FORMAT_VERSION, "weights_sha256": weights_digest(weights)}
    tmp = path.with_name(f".{path.name}{TMP_MARKER}{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass  # some file systems cannot fsync a folder; the rename itself is still atomic


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load and verify; any problem with the file is a ChargenError that names it."""
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
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower() or "weights_only" in str(e).lower():
            raise ChargenError(
                f"checkpoint {path} contains Python objects that could run code; refusing to load it"
            ) from None
        raise ChargenError(f"checkpoint {path} is corrupt ({e})") from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, KeyError, OSError, TypeError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ChargenError(f"checkpoint {path} is corrupt ({first_line[:120]})") from None
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


def facts(path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """What `chargen info` shows of a checkpoint: model, corpus, progress and the digest of the weights."""
    model, position = payload["model_config"], payload["position"]
    best = position.get("best_val_loss")
    return {
        "checkpoint": str(path),
        "cell": model["cell"],
        "layers": model["layers"],
        "hidden_size": model["hidden_size"],
        "embed_dim": model["embed_dim"],
        "dropout": model["dropout"],
        "parameters": sum(t.numel() for t in payload["weights"].values()),
        "vocab_size": model["vocab_size"],
        "corpus": payload["corpus"]["sources"],
        "corpus_chars": payload["corpus"]["chars"],
        "corpus_sha256": payload["corpus"]["sha256"],
        "mode": "lines" if line_mode(payload) else "text",
        "step": position["step"],
        "total_steps": position["total_steps"],
        "best_val_loss": best,
        "best_val_bpc": best / math.log(2) if best is not None else None,
        "weights_sha256": payload["weights_sha256"],
        "parent": payload.get("parent"),
        "resumable": "resume" in payload,
        "format_version": payload["format_version"],
        "chargen_version": payload["chargen_version"],
    }


def fact_text(key: str, value: Any) -> str:
    """One of `facts` as text: numbers with thousands separators, losses to 4 places, lists and records inline."""
    if isinstance(value, bool) or key == "format_version":
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')} {fact_text(k, v)}" for k, v in value.items() if v is not None)
    return str(value)


def line_mode(payload: dict[str, Any]) -> bool:
    """Whether the checkpoint's model was trained on items, one per line (--lines)."""
    return bool(payload.get("train_config", {}).get("lines"))


def remove_orphans(folder: Path) -> list[Path]:
    """Delete temporary files left by a save that was killed; returns what was removed."""
    removed = []
    for p in folder.glob(f".*{TMP_MARKER}*"):
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed
