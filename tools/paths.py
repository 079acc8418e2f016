"""Where things live in the repository: the one definition of the folders the tools and benchmarks share.

A leaf module (it imports nothing from this repository), so every other module can use it.
"""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO / "notebooks"  # the English notebooks; the Korean edition is NOTEBOOK_DIR / "ko"
RESULTS_DIR = REPO / "benchmarks" / "results"  # the measurement records (benchmarks/records.py)
CONSTRAINTS = REPO / ".ci" / "constraints.txt"  # the exact versions CI installs
