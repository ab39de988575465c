"""Static checks in the test suite (what CI runs): ruff's lint and format, and mypy on ``src/``.

Each check runs its tool through this interpreter (``python -m ruff``, ``python -m mypy``) from
the repository root, so the settings in ``pyproject.toml`` apply; a tool that is not installed
skips its test (``pip install -e ".[test]"`` installs both).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _failure(result: subprocess.CompletedProcess[str]) -> str:
    command = " ".join(result.args[2:])
    return f"`{command}` exited with {result.returncode}:\n{result.stdout}{result.stderr}"


def test_ruff() -> None:
    pytest.importorskip("ruff", reason="ruff is not installed (pip install -e '.[test]')")
    for args in (
        ("ruff", "check", "src", "tests", "benchmarks", "results"),
        ("ruff", "format", "--check", "src", "tests"),
    ):
        result = _run(*args)
        assert result.returncode == 0, _failure(result)


def test_mypy() -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
    result = _run("mypy")  # files and settings: pyproject.toml's [tool.mypy]
    assert result.returncode == 0, _failure(result)
