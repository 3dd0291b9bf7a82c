"""Taking a trained model elsewhere: one HTML page that generates in any browser (chargen.export.page),
and the model's step as ONNX (chargen.export.onnxfile). Both files carry the model's facts (what
`chargen info` shows), are written atomically and never over an existing file unless told to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chargen.errors import ChargenError
from chargen.store.files import describe_os_error, write_atomically
from chargen.store.record import Checkpoint

FORMATS = {".html": "html", ".htm": "html", ".onnx": "onnx"}


def format_for(output: Path, named: str | None) -> str:
    """The format to write: the one named, else the one the suffix says."""
    if named is not None:
        return named
    fmt = FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise ChargenError(f"cannot tell the format of {output} from its suffix {output.suffix or '(none)'!r}; "
                           "name it .html or .onnx, or give --format html|onnx")
    return fmt


def export_facts(checkpoint: Checkpoint, source: Path, precision: str | None) -> dict[str, Any]:
    """What the exported file says about itself: `chargen info`'s facts of the model it came from."""
    facts = checkpoint.facts(source)
    for private in ("resumable", "checkpoint"):  # a file that is handed around carries no paths of this machine
        facts.pop(private)
    facts["corpus"] = [Path(p).name for p in facts["corpus"]]
    return {**facts, "name": checkpoint.name, "run": source.parent.name, "precision": precision}


def export(checkpoint: Checkpoint, source: Path, output: Path, fmt: str, precision: str = "fp16",
           force: bool = False) -> int:
    """Write `checkpoint` (read from `source`) to `output` as `fmt`; returns the bytes written."""
    if output.is_dir():
        raise ChargenError(f"{output} is a folder; name a file")
    if output.exists() and not force:
        raise ChargenError(f"{output} exists; give --force to replace it")
    if not output.parent.is_dir():
        raise ChargenError(f"cannot write {output}: the folder {output.parent} does not exist")
    if fmt == "html":
        from chargen.export.page import build_page

        data = build_page(checkpoint, export_facts(checkpoint, source, precision), precision).encode("utf-8")
    else:
        from chargen.export.onnxfile import onnx_bytes

        data = onnx_bytes(checkpoint, export_facts(checkpoint, source, "fp32"))
    try:
        write_atomically(output, lambda f: f.write(data))
    except OSError as e:
        raise ChargenError(f"cannot write {output} ({describe_os_error(e)})") from None
    return len(data)


def exported_facts(path: Path) -> dict[str, Any] | None:
    """The facts an exported page or ONNX file holds, or None when `path` is not one."""
    suffix = path.suffix.lower()
    if FORMATS.get(suffix) == "html":
        from chargen.export.page import read_page_record

        try:
            record = read_page_record(path.read_text(encoding="utf-8", errors="replace"))
        except OSError as e:
            raise ChargenError(f"cannot read {path} ({describe_os_error(e)})") from None
        if record is None:
            raise ChargenError(f"{path} is not a page written by chargen export")
        return {"file": str(path), "format": f"html page, {record['precision']} weights", **record["facts"]}
    if FORMATS.get(suffix) == "onnx":
        from chargen.export.onnxfile import read_onnx_record

        record = read_onnx_record(path)
        if record is None:
            raise ChargenError(f"{path} is not an ONNX model written by chargen export")
        record.pop("vocab", None)
        record.pop("start_char", None)
        return {"file": str(path), "format": "onnx, fp32 weights", **record}
    return None
