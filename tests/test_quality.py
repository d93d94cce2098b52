"""The code-quality bar, checked with the tests: ruff clean, mypy strict on kb/ and reference/."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_is_clean() -> None:
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_kb_and_reference() -> None:
    result = run(sys.executable, "-m", "mypy", "kb", "reference")
    assert result.returncode == 0, result.stdout + result.stderr


def test_reference_runs_on_numpy_alone() -> None:
    """Every module of reference/ (found, not listed, so a new one is checked too) imports
    without torch, scipy, scikit-learn or kb."""
    code = (
        "import importlib, pkgutil, sys, reference\n"
        "for module in pkgutil.iter_modules(reference.__path__):\n"
        "    importlib.import_module('reference.' + module.name)\n"
        "assert 'reference.metrics' in sys.modules  # the discovery found the modules\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch', 'scipy', 'sklearn', 'kb'})\n"
        "assert not bad, bad"
    )
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr


def test_kb_does_not_need_torch() -> None:
    code = "import sys, kb.app, kb.cli\nassert 'torch' not in sys.modules"
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
