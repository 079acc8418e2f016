"""Every notebook in notebooks/: hygiene checks, then executed headless in smoke mode with papermill.

New notebooks are picked up automatically. Executed copies and their figures are kept in
artifacts/ (git-ignored) for inspection; the results table each notebook ends with
(``course_utils.show_results``) is read back and checked, and every cell marked
``# NBVAL_CHECK_OUTPUT`` must print exactly what its committed output shows (nbval's marker; one
execution checks both, which keeps CI within its time).

The Korean notebooks (notebooks/ko/) have exactly the English code cells (tests/test_translations.py),
so only KOREAN_SMOKE of them are executed here: enough to show that a generated notebook runs from
notebooks/ko/, without doubling CI's time.
"""
from __future__ import annotations

import json
import time

import nbformat
import pytest

from course_utils.results import RESULTS_MIMETYPE
from tools import nbkit

REPO = nbkit.REPO
NOTEBOOKS = nbkit.notebooks()
ARTIFACTS = REPO / "artifacts"
SMOKE_BUDGET_S = 180  # twice the 90 s target on a 2-core CI machine: catches a notebook gone slow
IDS = [p.stem for p in NOTEBOOKS]
KOREAN_SMOKE = ("01_datasets_and_dataloaders", "07_resnet")
KOREAN = [REPO / "notebooks" / "ko" / f"{stem}.ipynb" for stem in KOREAN_SMOKE]


def test_toolkit_reads_the_package_mimetype():
    assert nbkit.RESULTS_MIMETYPE == RESULTS_MIMETYPE, "tools/nbkit.py and course_utils/results.py disagree"


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 3, "notebooks/ should hold the numbered course notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_hygiene(path):
    nb = nbkit.read(path)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and nbkit.header(nb).startswith("# "), "first cell: a markdown title"
    assert "RUN_MODE" in nbkit.parameters(nb), "the parameters cell must set RUN_MODE"  # raises unless one cell
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.outputs or c.execution_count) and "NBVAL_CHECK_OUTPUT" not in nbkit.source(c)]
    assert not dirty, f"cells {dirty} carry outputs: clear them (only # NBVAL_CHECK_OUTPUT cells may keep theirs)"
    assert "Exercises" in "".join(nbkit.source(c) for c in nbkit.markdown_cells(nb))


def _save_figures(nb, stem):
    folder = ARTIFACTS / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{stem}_*.png"):
        old.unlink()
    pngs = nbkit.figures(nb)
    for count, png in enumerate(pngs, 1):
        (folder / f"{stem}_{count:02d}.png").write_bytes(png)
    return len(pngs)


@pytest.mark.parametrize("path", NOTEBOOKS + KOREAN, ids=IDS + [f"ko-{stem}" for stem in KOREAN_SMOKE])
def test_notebook_runs_in_smoke_mode(path):
    name = f"ko_{path.stem}" if path.parent.name == "ko" else path.stem
    start = time.perf_counter()
    # SHOW_SOLUTIONS: the exercise solutions, hidden on a student's Run All, run here.
    nb = nbkit.execute(path, ARTIFACTS / "executed" / f"{name}.ipynb", {"RUN_MODE": "smoke", "SHOW_SOLUTIONS": True})
    seconds = time.perf_counter() - start
    timings = ARTIFACTS / "smoke_seconds.json"
    recorded = json.loads(timings.read_text()) if timings.exists() else {}
    recorded[name] = round(seconds, 1)
    timings.write_text(json.dumps(recorded, indent=2, sort_keys=True))
    mismatches = nbkit.checked_output_mismatches(nbkit.read(path), nb)
    assert not mismatches, ("outputs of # NBVAL_CHECK_OUTPUT cells changed; if the change is intended, refresh them "
                            f"with python -m tools.sync_notebooks --refresh-outputs {path}:\n" + "\n".join(mismatches))
    assert _save_figures(nb, name) > 0, "every notebook should draw at least one figure"
    results = nbkit.results(nb)
    assert results, "the notebook must end with course_utils.show_results({...})"
    assert results.get("run_mode") == "smoke"
    chance = results.get("chance_accuracy")
    for key, value in results.items():
        if key.endswith("accuracy") and key != "chance_accuracy":
            assert chance is not None, "report chance_accuracy next to accuracies"
            assert value > chance, f"{key}={value} is not above chance ({chance}) after the smoke run"
    assert seconds < SMOKE_BUDGET_S, f"smoke run took {seconds:.0f} s (target 90 s)"


def test_same_seed_same_smoke_numbers(tmp_path):
    """Notebook 07 (seeded augmentation on the device, shuffling, a one-cycle schedule; one of the quickest
    training notebooks) run twice in smoke mode on the CPU: identical losses and accuracies."""
    path = REPO / "notebooks" / "07_resnet.ipynb"
    runs = []
    for attempt in (1, 2):
        results = nbkit.results(nbkit.execute(path, tmp_path / f"run{attempt}_{path.name}", {"RUN_MODE": "smoke"}))
        runs.append({k: v for k, v in results.items() if k.endswith(("accuracy", "loss"))})
    assert len(runs[0]) >= 2, f"expected accuracies in the results, got {runs[0]}"
    assert runs[0] == runs[1], f"same seed, different numbers: {runs[0]} vs {runs[1]}"


def test_korean_smoke_subset_exists():
    assert all(path.is_file() for path in KOREAN), f"KOREAN_SMOKE names notebooks missing from notebooks/ko: {KOREAN}"


def test_changed_checked_output_is_reported(tmp_path):
    """The output check can fail: a marked cell whose committed output differs from the run's is named."""
    import nbformat

    cell = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(6 * 7)", id="answer")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    unmarked = nbformat.v4.new_code_cell("print('anything')", id="free")
    committed = nbformat.v4.new_notebook(cells=[cell, unmarked])
    executed = nbformat.v4.new_notebook(cells=[nbformat.from_dict(json.loads(json.dumps(c))) for c in (cell, unmarked)])
    executed.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="anything\n")]
    assert nbkit.checked_output_mismatches(committed, executed) == [], "same output, and unmarked cells are free"
    executed.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="41\n")]
    [problem] = nbkit.checked_output_mismatches(committed, executed)
    assert "cell 0 (id answer)" in problem and "42" in problem and "41" in problem
    executed.cells = executed.cells[1:]
    assert nbkit.checked_output_mismatches(committed, executed) == ["cell 0 (id answer) was not executed"]

