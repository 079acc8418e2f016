"""Every notebook in notebooks/: hygiene checks, then executed headless in smoke mode with papermill.

New notebooks are picked up automatically. Executed copies and their figures are kept in
artifacts/ (git-ignored) for inspection; the results table each notebook ends with
(``course_utils.show_results``) is read back and checked. nbval runs the same notebooks
separately (``pytest --nbval-lax notebooks``) and compares the ``# NBVAL_CHECK_OUTPUT`` cells.
"""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import nbformat
import papermill
import pytest

from course_utils.results import RESULTS_MIMETYPE

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = REPO / "artifacts"
SMOKE_BUDGET_S = 180  # twice the 90 s target on a 2-core CI machine: catches a notebook gone slow
IDS = [p.stem for p in NOTEBOOKS]


def _source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 3, "notebooks/ should hold the numbered course notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_hygiene(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and _source(first).startswith("# "), "first cell: a markdown title"
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, f"exactly one cell tagged 'parameters', found {len(params)}"
    assert "RUN_MODE" in _source(params[0])
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.outputs or c.execution_count) and "NBVAL_CHECK_OUTPUT" not in _source(c)]
    assert not dirty, f"cells {dirty} carry outputs: clear them (only # NBVAL_CHECK_OUTPUT cells may keep theirs)"
    assert "Exercises" in "".join(_source(c) for c in nb.cells if c.cell_type == "markdown")


def _results(nb) -> dict:
    found = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            found.update(output.get("data", {}).get(RESULTS_MIMETYPE, {}))
    return found


def _save_figures(nb, stem):
    folder = ARTIFACTS / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{stem}_*.png"):
        old.unlink()
    count = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                count += 1
                (folder / f"{stem}_{count:02d}.png").write_bytes(base64.b64decode(png))
    return count


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_in_smoke_mode(path):
    out = ARTIFACTS / "executed" / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    # SHOW_SOLUTIONS: the exercise solutions, hidden on a student's Run All, run here.
    papermill.execute_notebook(str(path), str(out), parameters={"RUN_MODE": "smoke", "SHOW_SOLUTIONS": True},
                               kernel_name="python3", cwd=str(path.parent), progress_bar=False)
    seconds = time.perf_counter() - start
    nb = nbformat.read(out, as_version=4)
    timings = ARTIFACTS / "smoke_seconds.json"
    recorded = json.loads(timings.read_text()) if timings.exists() else {}
    recorded[path.stem] = round(seconds, 1)
    timings.write_text(json.dumps(recorded, indent=2, sort_keys=True))
    assert _save_figures(nb, path.stem) > 0, "every notebook should draw at least one figure"
    results = _results(nb)
    assert results, "the notebook must end with course_utils.show_results({...})"
    assert results.get("run_mode") == "smoke"
    chance = results.get("chance_accuracy")
    for key, value in results.items():
        if key.endswith("accuracy") and key != "chance_accuracy":
            assert chance is not None, "report chance_accuracy next to accuracies"
            assert value > chance, f"{key}={value} is not above chance ({chance}) after the smoke run"
    assert seconds < SMOKE_BUDGET_S, f"smoke run took {seconds:.0f} s (target 90 s)"


def test_same_seed_same_smoke_numbers(tmp_path):
    """Notebook 03 (the first training notebook) run twice in smoke mode on the CPU: identical losses and accuracies."""
    path = REPO / "notebooks" / "03_first_cnn.ipynb"
    runs = []
    for attempt in (1, 2):
        out = tmp_path / f"run{attempt}_{path.name}"
        papermill.execute_notebook(str(path), str(out), parameters={"RUN_MODE": "smoke"}, kernel_name="python3",
                                   cwd=str(path.parent), progress_bar=False)
        results = _results(nbformat.read(out, as_version=4))
        runs.append({k: v for k, v in results.items() if k.endswith(("accuracy", "loss"))})
    assert len(runs[0]) >= 2, f"expected accuracies in the results, got {runs[0]}"
    assert runs[0] == runs[1], f"same seed, different numbers: {runs[0]} vs {runs[1]}"
