"""ruff (configured in pyproject.toml: E, F, W, B, UP, SIM, I at line length 120) finds nothing.

One test per area, so a failure says where to look; the findings are printed in full.
"""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AREAS = ["course_utils", "tests", "tools", "benchmarks", "conftest.py", "notebooks"]


def test_ruff_is_installed():
    result = subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True)
    assert result.returncode == 0, f"ruff is missing: pip install -r requirements-dev.txt\n{result.stderr}"


@pytest.mark.parametrize("area", AREAS)
def test_ruff_finds_nothing(area):
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", area],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"ruff check {area} (fix, or run `ruff check --fix {area}`):\n" \
                                   f"{result.stdout}{result.stderr}"
