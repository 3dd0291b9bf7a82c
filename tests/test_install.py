"""A normal install, far from the source tree: the sdist holds what it should, the wheel built from it
carries the bundled corpus, and the installed `chargen` trains on it and samples."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".git", ".venv", ".venv-ci", "checkpoints", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis",
        "results", "chargen.egg-info"}


def build(backend_call: str, source: Path, out: Path) -> Path:
    """Run a PEP 517 hook of setuptools in `source` (no network, no build isolation): the file it made."""
    code = f"from setuptools import build_meta as b; print(b.{backend_call}({str(out)!r}))"
    done = subprocess.run([sys.executable, "-c", code], cwd=source, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out / done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtual environment with chargen installed from a wheel built from the sdist."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=lambda folder, names: [n for n in names if n in SKIP])
    sdist = build("build_sdist", source, tmp / "dist")
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp / "unpacked", filter="data")
        names = {Path(*Path(n).parts[1:]).as_posix() for n in tar.getnames()}
    wheel = build("build_wheel", next((tmp / "unpacked").iterdir()), tmp / "dist")

    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True)
    # torch and the other dependencies come from this environment: a .pth line adds its site-packages
    # after the new one's, without running its .pth files (so the editable checkout stays out of sight).
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv, site, names


def chargen(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHARGEN_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run([str(venv / "bin" / "chargen"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_sdist_carries_tests_readme_and_the_corpus(installed):
    _, _, names = installed
    assert {"README.md", "corpora/shakespeare.txt", "corpora/README.md", "tests/test_install.py",
            "pyproject.toml", "docs/errors.md"} <= names


def test_an_installed_wheel_trains_on_its_bundled_corpus_and_samples(installed, tmp_path):
    venv, site, _ = installed
    # --eval-chars: the one evaluation reads 2K of the corpus's 500K held-out characters.
    trained = chargen(venv, tmp_path, "train", "--steps", "5", "--eval-every", "5", "--eval-chars", "2048",
                      "--hidden-size", "16", "--batch-size", "4", "--seq-len", "16", "--name", "wheel",
                      "--sample-length", "20")
    assert trained.returncode == 0, trained.stderr
    assert len(trained.stdout) == 21
    corpus = json.loads((tmp_path / "checkpoints" / "wheel" / "config.json").read_text())["corpus"]["sources"]
    assert corpus == [str(site / "chargen" / "corpora" / "shakespeare.txt")]  # the installed copy, not the checkout's
    sampled = chargen(venv, tmp_path, "sample", "--length", "50", "--seed", "1")
    assert sampled.returncode == 0, sampled.stderr
    assert len(sampled.stdout) == 51
