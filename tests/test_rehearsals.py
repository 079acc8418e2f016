"""The launch paths a student takes outside CI, rehearsed here (tools/rehearse.py does the work):

- **Colab**: each notebook alone in an empty folder, in an environment holding only what Colab
  preinstalls, with course_utils installed by the notebook's own setup cell from a build of this
  checkout; smoke mode, with the exercise solutions. This is each notebook's one smoke run in the tests:
  nbval runs it (tools/nbval_colab.py collects notebooks/ with the rest of the tests), so it is not
  repeated here; here it is shown to fail when it should.
- **Full shape**: each notebook with ``RUN_MODE = "full"`` and only its data-size knobs turned down,
  so full mode's models, batch sizes, input sizes and branches run on the CPU.

Each also fails when it should: a synthetic notebook that imports an undeclared module, one that
reads a file of the repository, one whose checked output changed, one whose full-mode branch has an
error. Times per notebook are kept in artifacts/rehearsal/seconds.json.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from tools import nbkit, rehearse, sync_notebooks

pytestmark = [pytest.mark.rehearsal,
              pytest.mark.skipif(os.name != "posix", reason="the rehearsals build POSIX virtual environments")]
NOTEBOOKS = nbkit.notebooks()
IDS = [p.stem for p in NOTEBOOKS]
SECONDS = rehearse.ARTIFACTS / "seconds.json"


def _record(kind: str, stem: str, seconds: float) -> None:
    nbkit.record(SECONDS, (kind, stem), round(seconds, 1))


def _synthetic(path, *cells: str, knobs: str = ""):
    """A minimal course-shaped notebook: title, the real setup cell, a parameters cell, then ``cells``."""
    params = nbformat.v4.new_code_cell(f"RUN_MODE = None\nSHOW_SOLUTIONS = False\n{knobs}",
                                       metadata={"tags": ["parameters"]})
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 99 · A synthetic notebook"),
        nbformat.v4.new_code_cell(sync_notebooks.setup_cell_source()),
        params,
        *(nbformat.v4.new_code_cell(code) for code in cells),
    ])
    nbkit.write(nb, path)
    return path


# -- Colab (the notebooks' smoke runs: tools/nbval_colab.py) ----------------------------------------------

def test_colab_runs_report_what_would_fail_on_colab(tmp_path):
    """Three synthetic notebooks run by nbval as the course's notebooks are (one pytest, one Colab rehearsal):
    an import of a module that is not declared (nbformat: neither preinstalled on Colab's kernel here nor a
    dependency of course_utils), a read of a repository file, and a # NBVAL_CHECK_OUTPUT cell whose output
    changed. Each fails, saying why; run locally (in this checkout's environment), the first two work."""
    folder = nbkit.REPO / "artifacts" / "nbval-selftest" / tmp_path.name  # under the repository: its conftest.py
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    undeclared = _synthetic(folder / "97_undeclared.ipynb", "import course_utils as cu\nimport nbformat")
    reads = _synthetic(folder / "98_reads_repo.ipynb", "import json\nfrom pathlib import Path\n"
                       "measured = json.loads(Path('../benchmarks/results/notebook_resources_fast.json').read_text())")
    changed = _synthetic(folder / "99_changed_output.ipynb", "# NBVAL_CHECK_OUTPUT\nprint(6 * 7)")
    nb = nbkit.read(changed)
    nb.cells[-1].execution_count = 1
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="41\n")]
    nbkit.write(nb, changed)
    for path in (undeclared, reads):  # control: both work in this checkout, run from notebooks/
        assert nbkit.first_error(nbkit.execute(path, tmp_path / path.name, {"RUN_MODE": "smoke"},
                                               cwd=nbkit.NOTEBOOK_DIR)) is None
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", str(folder)],
                              cwd=nbkit.REPO, capture_output=True, text=True, timeout=900)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out = done.stdout
    assert done.returncode == 1, out[-4000:]
    assert re.search(r"97_undeclared.ipynb::Cell 2 .*\n(?s:.*)ModuleNotFoundError(?s:.*)add its distribution to "
                     r"\[project\] dependencies", out), out[-4000:]
    assert re.search(r"(?s)FileNotFoundError.*arrives alone, without the repository", out), out[-4000:]
    assert re.search(r"(?s)99_changed_output.ipynb::Cell 2.*Cell outputs differ.*41", out), out[-4000:]
    assert "FAILED artifacts/nbval-selftest" in out and out.count("FAILED") >= 3


# -- full shape ------------------------------------------------------------------------------------------

def test_full_shape_sizes_name_data_size_knobs_of_their_notebook():
    """A renamed or removed knob fails here, instead of silently running full mode at its smoke size."""
    stems = {p.stem for p in NOTEBOOKS}
    assert set(rehearse.FULL_SHAPE_SIZES) <= stems, f"unknown notebooks: {set(rehearse.FULL_SHAPE_SIZES) - stems}"
    for stem, sizes in rehearse.FULL_SHAPE_SIZES.items():
        tables = nbkit.mode_knobs(nbkit.read(nbkit.NOTEBOOK_DIR / f"{stem}.ipynb"))
        for knob, value in sizes.items():
            assert knob in tables, f"{stem}: {knob} is not a per-mode knob of its parameters cell (tools/rehearse.py)"
            assert rehearse.DATA_SIZE_KNOB.search(knob), f"{stem}: {knob} is not a data size (images, epochs, steps)"
            assert isinstance(value, int) and 0 < value < tables[knob]["smoke"], \
                f"{stem}: {knob} = {value} should be a positive size below its smoke value {tables[knob]['smoke']}"


def test_full_shape_turns_down_data_sizes_only():
    knobs = rehearse.full_shape_knobs(nbkit.NOTEBOOK_DIR / "07_resnet.ipynb")
    assert knobs["EPOCHS"] == 1 and knobs["EXERCISE_EPOCHS"] == 1  # a listed value, and a smoke value
    assert not {"WIDTHS", "BATCH_SIZE", "PEAK_LR"} & set(knobs), "shapes and rates keep their full-mode values"
    assert rehearse.full_shape_knobs(nbkit.NOTEBOOK_DIR / "01_datasets_and_dataloaders.ipynb") == {}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_in_full_shape(path):
    run = rehearse.full_shape(path, timeout=nbkit.TEST_CELL_TIMEOUT_S)  # RehearsalError naming the cell on an error
    _record("full_shape", path.stem, run["seconds"])
    assert run["probe"].get("RUN_MODE") == "full"
    assert run["results"].get("run_mode") == "full", "the notebook must end with course_utils.show_results"
    # settings.full_size (cu.RunSettings): False when a knob was set to one value, as the rehearsal does; a notebook
    # without size knobs is always full size. cu.check_full_mode then skips, saying so, the full-size-only checks.
    knobs = rehearse.full_shape_knobs(path)
    expected = not knobs
    assert run["probe"].get("FULL_SIZE") is expected, (
        f"{path.name}: settings.full_size is {run['probe'].get('FULL_SIZE')!r} with the knobs {knobs}, expected "
        f"{expected}: read every per-mode knob with settings = cu.RunSettings(RUN_MODE, EPOCHS=EPOCHS, ...)")
    share = rehearse.FULL_SHAPE_BUDGET_S / len(NOTEBOOKS)  # the target: all notebooks within the budget
    assert run["seconds"] < 2 * share, (  # twice the share, as the smoke budget, for a busy machine
        f"{path.name} took {run['seconds']:.0f} s in full shape; all notebooks share {rehearse.FULL_SHAPE_BUDGET_S} s "
        f"(about {share:.0f} s each) on the 2-core CI machine; slowest: "
        f"{nbkit.slowest_cells(nbkit.read(run['executed']))}. "
        "Turn a data-size knob down in FULL_SHAPE_SIZES (tools/rehearse.py)")


def test_full_shape_reports_an_error_in_a_full_mode_branch(tmp_path):
    """The smoke run passes this notebook; only the full-shape rehearsal reaches its broken branch."""
    code = ("EPOCHS = EPOCHS or {'smoke': 1, 'fast': 2, 'full': 30}[RUN_MODE or 'fast']\n"
            "if RUN_MODE == 'full':\n    widths = (64, 128)\n    print(widths[2])")
    path = _synthetic(tmp_path / "99_full_branch.ipynb", code, knobs="EPOCHS = None")
    smoke = nbkit.execute(path, tmp_path / "smoke.ipynb", {"RUN_MODE": "smoke"})
    assert nbkit.first_error(smoke) is None
    with pytest.raises(rehearse.RehearsalError, match=r"99_full_branch.ipynb, cell 4 \(EPOCHS = .*\): IndexError"):
        rehearse.full_shape(path, tmp_path / "out", knobs={"EPOCHS": 1})


def test_rehearsal_environment_is_stale_only_when_its_own_pins_change(tmp_path):
    """A new test tool in the constraints keeps the cached environment; a new version of a package it holds
    rebuilds it (names compared as pip normalizes them)."""
    (tmp_path / "preinstalled.txt").write_text("torch==2.14.1\nscikit_learn==1.8.0\n")
    pinned = "# comment\ntorch==2.14.1\nscikit-learn==1.8.0\n"
    assert rehearse.stale_pins(tmp_path, pinned) == []
    assert rehearse.stale_pins(tmp_path, pinned + "pytest-xdist==3.8.0\n") == []
    assert rehearse.stale_pins(tmp_path, pinned.replace("2.14.1", "2.15.0")) == ["torch 2.14.1 (pinned 2.15.0)"]
