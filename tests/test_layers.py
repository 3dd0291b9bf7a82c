"""The package's shape: imports flow down the layers only, and what only reads files or renders never loads torch."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "chargen"

# Top to bottom. A module may import its own package and the layers below it; the packages of one
# layer know nothing of each other.
LAYERS = [
    {"__main__"},
    {"cli"},
    {"views", "export", "serve"},
    {"generate", "train"},
    {"model", "store"},
    {"data", "corpora"},
    {"config", "units"},  # the shared leaves: no torch, importable by everything
    {"errors", "__init__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def part(module: str) -> str:
    """chargen.train.loop -> train; chargen -> __init__."""
    names = module.split(".")
    return names[1] if len(names) > 1 else "__init__"


def imports(path: Path) -> set[str]:
    """Every chargen module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "chargen":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "chargen")
    return found


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        dotted = ".".join(("chargen", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        out.append((dotted, path))
    return out


def test_every_package_sits_in_a_layer():
    assert {part(m) for m, _ in modules()} <= set(RANK)


def test_imports_flow_down_the_layers_only():
    wrong = []
    for module, path in modules():
        mine = part(module)
        for target in imports(path):
            theirs = part(target)
            if theirs != mine and RANK[theirs] <= RANK[mine]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_the_layers_check_catches_an_upward_import(tmp_path):
    """The check itself: a data module that imports the training loop is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from chargen.train.loop import Trainer\n")
    assert imports(bad) == {"chargen.train.loop"} and RANK[part("chargen.train.loop")] < RANK[part("chargen.data.x")]


def run_without_torch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`chargen ARGS` in a fresh interpreter where importing torch fails."""
    code = ("import sys; sys.modules['torch'] = None; sys.argv = ['chargen', *sys.argv[1:]]; "
            "from chargen.cli import main; main()")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["sample", "--help"]])
def test_help_never_imports_torch(args, tmp_path):
    result = run_without_torch(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage: chargen" in result.stdout


def test_help_does_not_import_torch():
    code = ("import sys; from chargen.cli import cli\n"
            "for args in (['--help'], ['train', '--help'], ['sample', '--help'], ['repl', '--help']):\n"
            "    try: cli(args, prog_name='chargen')\n"
            "    except SystemExit: pass\n"
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'heavy import'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_plot_reads_metrics_without_torch(tmp_path):
    run = tmp_path / "checkpoints" / "run"
    run.mkdir(parents=True)
    records = [{"step": s, "train_loss": 3.0 - s / 100, "val_loss": 3.1 - s / 100, "elapsed_s": s, "chars": 64 * s}
               for s in (10, 20, 30)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    result = run_without_torch("plot", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "best val 2.8000 nats/char" in result.stderr


@pytest.mark.parametrize("args", [["runs"], ["runs", "--json"]])
def test_runs_lists_without_torch(args, tmp_path):
    run = tmp_path / "checkpoints" / "names-20261203-101500"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": {"cell": "gru", "layers": 1, "hidden_size": 8},
                                                 "train": {"steps": 10}, "corpus": {"sources": ["names.txt"]}}))
    (run / "metrics.jsonl").write_text(json.dumps({"step": 10, "train_loss": 1.0, "val_loss": 1.0}) + "\n")
    result = run_without_torch(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "names-20261203-101500" in result.stdout and "gru" in result.stdout


def test_the_architecture_doc_names_every_module():
    """docs/architecture.md's module map stays the map of the code: a new module gets its line."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [str(rel) for _, path in modules()
               if (rel := path.relative_to(PACKAGE)).name not in ("__init__.py", "__main__.py") or rel.parts == ("cli", "__init__.py")
               if f"`{rel}`" not in doc]
    assert not missing, f"docs/architecture.md does not name {', '.join(missing)}"
