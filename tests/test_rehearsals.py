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

import json
import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from benchmarks import records
from conftest import TEST_CELL_TIMEOUT_S
from tools import execute, links, nbkit, rehearse
from tools.paths import NOTEBOOK_DIR, REPO

pytestmark = [pytest.mark.rehearsal,
              pytest.mark.skipif(os.name != "posix", reason="the rehearsals build POSIX virtual environments")]
NOTEBOOKS = nbkit.notebooks()
IDS = [p.stem for p in NOTEBOOKS]
SECONDS = rehearse.ARTIFACTS / "seconds.json"


def _record(kind: str, stem: str, seconds: float) -> None:
    records.record(SECONDS, (kind, stem), round(seconds, 1))


def _synthetic(path, *cells: str, knobs: str = ""):
    """A minimal course-shaped notebook: title, the real setup cell, a parameters cell, then ``cells``."""
    params = nbformat.v4.new_code_cell(f"RUN_MODE = None\nSHOW_SOLUTIONS = False\n{knobs}",
                                       metadata={"tags": ["parameters"]})
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 99 · A synthetic notebook"),
        nbformat.v4.new_code_cell(links.setup_cell_source()),
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
    folder = REPO / "artifacts" / "nbval-selftest" / tmp_path.name  # under the repository: its conftest.py
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
        assert execute.first_error(execute.execute(path, tmp_path / path.name, {"RUN_MODE": "smoke"},
                                               cwd=NOTEBOOK_DIR)) is None
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", str(folder)],
                              cwd=REPO, capture_output=True, text=True, timeout=900)
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
        tables = nbkit.mode_knobs(nbkit.read(NOTEBOOK_DIR / f"{stem}.ipynb"))
        for knob, value in sizes.items():
            assert knob in tables, f"{stem}: {knob} is not a per-mode knob of its parameters cell (tools/rehearse.py)"
            assert rehearse.DATA_SIZE_KNOB.search(knob), f"{stem}: {knob} is not a data size (images, epochs, steps)"
            assert isinstance(value, int) and 0 < value < tables[knob]["full"], \
                f"{stem}: {knob} = {value} should be a positive size below its full-mode value {tables[knob]['full']}"
            assert value != tables[knob]["smoke"], f"{stem}: {knob} = {value} is its smoke value: leave it out"


def test_full_shape_turns_down_data_sizes_only():
    knobs = rehearse.full_shape_knobs(NOTEBOOK_DIR / "07_resnet.ipynb")
    assert knobs["EPOCHS"] == 1 and knobs["EXERCISE_EPOCHS"] == 1  # a listed value, and a smoke value
    assert not {"WIDTHS", "BATCH_SIZE", "PEAK_LR"} & set(knobs), "shapes and rates keep their full-mode values"
    assert rehearse.full_shape_knobs(NOTEBOOK_DIR / "01_datasets_and_dataloaders.ipynb") == {}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_in_full_shape(path):
    run = rehearse.full_shape(path, timeout=TEST_CELL_TIMEOUT_S)  # RehearsalError naming the cell on an error
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
        f"{execute.slowest_cells(nbkit.read(run['executed']))}. "
        "Turn a data-size knob down in FULL_SHAPE_SIZES (tools/rehearse.py)")


def test_full_shape_reports_an_error_in_a_full_mode_branch(tmp_path):
    """The smoke run passes this notebook; only the full-shape rehearsal reaches its broken branch."""
    code = ("EPOCHS = EPOCHS or {'smoke': 1, 'fast': 2, 'full': 30}[RUN_MODE or 'fast']\n"
            "if RUN_MODE == 'full':\n    widths = (64, 128)\n    print(widths[2])")
    path = _synthetic(tmp_path / "99_full_branch.ipynb", code, knobs="EPOCHS = None")
    smoke = execute.execute(path, tmp_path / "smoke.ipynb", {"RUN_MODE": "smoke"})
    assert execute.first_error(smoke) is None
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


# -- version sets (--versions oldest|newest): resolution, environments, the compatibility record ---------------

def test_version_sets_resolve_the_declared_dependencies_and_hold_the_kernel(tmp_path):
    """oldest and newest are resolved from pyproject.toml's dependencies as written, plus the rehearsal's kernel at
    its CI pin; a constraints file without that pin is refused."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["torch>=2.2", "numpy>=1.24"]\n')
    assert rehearse.requirements(tmp_path, "ipykernel==6.31.0\ntorch==2.14.1\n") == \
        ["torch>=2.2", "numpy>=1.24", "ipykernel==6.31.0"]
    with pytest.raises(rehearse.RehearsalError, match="ipykernel must be pinned in .ci/constraints.txt"):
        rehearse.requirements(tmp_path, "torch==2.14.1\n")
    assert rehearse.requirements()[:len(rehearse.course_dependencies())] == rehearse.course_dependencies()


def test_resolve_commands(tmp_path):
    """oldest: uv's lowest versions of the direct dependencies, wheels only, for this interpreter; newest: pip's own
    resolution without .ci/constraints.txt (the machine's pip configuration still applies), wheels only."""
    wanted, out = tmp_path / "requirements.txt", tmp_path / "out"
    oldest = rehearse.resolve_command("oldest", wanted, out, python="/py", uv="/bin/uv")
    assert oldest == ["/bin/uv", "pip", "compile", "--resolution", "lowest-direct", "--only-binary", ":all:",
                      "--python", "/py", "--no-header", "--no-annotate", "--quiet", "--output-file", str(out),
                      str(wanted)]
    newest = rehearse.resolve_command("newest", wanted, out, python="/py")
    assert newest[:4] == ["/py", "-m", "pip", "install"] and "--dry-run" in newest and "--ignore-installed" in newest
    assert newest[newest.index("--report") + 1] == str(out) and newest[newest.index("-r") + 1] == str(wanted)
    assert "-c" not in newest and not any("constraints" in arg for arg in newest)
    with pytest.raises(ValueError, match="'pinned' is not resolved"):
        rehearse.resolve_command("pinned", wanted, out)


def test_parse_resolution():
    uv_output = "# a comment\nnumpy==1.24.0\n    # via torch\nScikit_Learn==1.3.0\ntorch==2.2.0\n"
    assert rehearse.parse_resolution("oldest", uv_output) == \
        {"numpy": "1.24.0", "scikit-learn": "1.3.0", "torch": "2.2.0"}
    report = {"install": [{"metadata": {"name": "Jinja2", "version": "3.1.6"}},
                          {"metadata": {"name": "typing_extensions", "version": "4.16.0"}}]}
    assert rehearse.parse_resolution("newest", json.dumps(report)) == {"jinja2": "3.1.6", "typing-extensions": "4.16.0"}


def _fake_resolver(monkeypatch, output: str | None, exit_code: int = 0):
    """resolve_command replaced by a command that writes ``output`` (none when None) and exits with ``exit_code``."""
    def command(versions, wanted, out, python=sys.executable, uv=None):
        script = (f"import pathlib, sys; pathlib.Path({str(out)!r}).write_text({output!r})" if output is not None
                  else "import sys") + f"; print('resolver says no', file=sys.stderr); sys.exit({exit_code})"
        return [sys.executable, "-c", script]
    monkeypatch.setattr(rehearse, "resolve_command", command)


def test_resolve_returns_pins_and_reports_an_impossible_set(monkeypatch):
    assert rehearse.resolve("pinned") == rehearse.CONSTRAINTS.read_text()
    _fake_resolver(monkeypatch, "torch==2.2.0\nnumpy==1.24.0\n")
    text = rehearse.resolve("oldest", log=lambda _: None)
    assert text.startswith("# The oldest version set") and text.endswith("numpy==1.24.0\ntorch==2.2.0\n")
    assert rehearse._pins(text) == {"numpy": "1.24.0", "torch": "2.2.0"}
    _fake_resolver(monkeypatch, None, exit_code=1)
    with pytest.raises(rehearse.RehearsalError, match=r"(?s)resolving the oldest versions failed.*resolver says no.*"
                                                      r"raise it in pyproject.toml"):
        rehearse.resolve("oldest", log=lambda _: None)
    monkeypatch.setattr(rehearse, "resolve_command", lambda *a, **k: [sys.executable, "-c", (
        "import sys; [print(f'WARNING: Location {i} is ignored', file=sys.stderr) for i in range(500)]; "
        "print('ERROR: No space left on device', file=sys.stderr); sys.exit(1)")])
    with pytest.raises(rehearse.RehearsalError) as info:
        rehearse.resolve("newest", log=lambda _: None)
    assert "ERROR: No space left on device" in str(info.value) and "is ignored" not in str(info.value)


def test_version_sets_keep_their_own_environments(monkeypatch, tmp_path):
    """The default set keeps its cache name (colab-KEY: .ci/run's environment is not rebuilt), and a build of one set
    replaces only that set's environments: never another's, which may be in use."""
    monkeypatch.setenv("COURSE_REHEARSAL_CACHE", str(tmp_path))
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    key = rehearse._key(python_version, " ".join(rehearse.COLAB_PACKAGES))
    assert rehearse.environment_path().name == f"colab-{key}"
    paths = {name: rehearse.environment_path(name) for name in rehearse.VERSION_SETS}
    assert len(set(paths.values())) == len(paths)
    for name in ("colab-0123", "colab_oldest-0123", "colab_newest-0123", "colab_oldest-4567", "wheelhouse-0"):
        (tmp_path / name).mkdir()
    assert [p.name for p in rehearse.set_environments("pinned")] == ["colab-0123"]
    assert [p.name for p in rehearse.set_environments("oldest")] == ["colab_oldest-0123", "colab_oldest-4567"]
    assert [p.name for p in rehearse.set_environments("newest")] == ["colab_newest-0123"]
    with pytest.raises(ValueError, match="needs its resolved constraints"):
        rehearse.base_environment(versions="oldest")


def test_machine_pip_constraints(monkeypatch, tmp_path):
    """What pip's configuration applies to every install here (the newest set's ceiling), read from pip itself."""
    caps = tmp_path / "caps.txt"
    caps.write_text("# held back\ntorch<=2.14.1  # on disk\n\ntorchvision<=0.29.1\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no configuration file at all
    monkeypatch.delenv("PIP_CONSTRAINT", raising=False)
    assert rehearse.machine_pip_constraints() == []
    monkeypatch.setenv("PIP_CONSTRAINT", str(caps))
    assert rehearse.machine_pip_constraints() == ["torch<=2.14.1", "torchvision<=0.29.1"]
    monkeypatch.delenv("PIP_CONSTRAINT")
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nconstraint = {caps}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    assert rehearse.machine_pip_constraints()[-2:] == ["torch<=2.14.1", "torchvision<=0.29.1"]


def test_versions_option_is_for_the_colab_rehearsal(capsys):
    with pytest.raises(SystemExit):
        rehearse.main(["full-shape", "--versions", "oldest"])
    assert "--versions applies to the Colab rehearsal" in capsys.readouterr().err


class _FakeRehearsal:
    def __init__(self, torch: str):
        self.torch = torch

    def installed(self):
        return {"torch": self.torch, "torchvision": "0.17.0", "numpy": "1.24.0", "ipykernel": "6.31.0", "sympy": "1.14"}

    def environment_info(self):
        return {"built": "2026-01-02", "seconds": 600, "size_mb": 5100}


def test_compatibility_record_layout(tmp_path):
    """One entry per version set; each notebook carries what a "last verified" line needs (date, torch, torchvision,
    run mode, outcome), so that a run of some notebooks updates only theirs. The Markdown and README's block are
    rendered from it."""
    path = tmp_path / "compatibility.json"
    ok = {"outcome": "ok", "seconds": 31.2, "failure": None, "details": None}
    failed = {"outcome": "failed", "seconds": 4.0, "failure": "05_vgg.ipynb, cell 3 (import x): ImportError: y",
              "details": None}
    rehearse.record_compatibility("oldest", _FakeRehearsal("2.2.0"), {"01_a": ok, "05_vgg": failed}, "cmd", path,
                                  today="2026-01-02")
    record = rehearse.record_compatibility("oldest", _FakeRehearsal("2.2.1"), {"05_vgg": ok}, "cmd", path,
                                           today="2026-01-03")
    assert record == json.loads(path.read_text())
    entry = record["oldest"]
    assert entry["date"] == "2026-01-03" and entry["run_mode"] == "smoke" and entry["command"] == "cmd"
    assert entry["installed"]["torch"] == "2.2.1" and entry["installed"]["ipykernel"] == "6.31.0"
    assert list(entry["installed"])[:2] == ["torch", "torchvision"]  # pyproject.toml's order, then the kernel
    assert entry["installed"]["torchinfo"] == "not installed"
    assert entry["resolved"]["sympy"] == "1.14"
    assert entry["notebooks"]["01_a"] == {**ok, "date": "2026-01-02", "run_mode": "smoke", "torch": "2.2.0",
                                          "torchvision": "0.17.0"}
    assert entry["notebooks"]["05_vgg"]["date"] == "2026-01-03" and entry["notebooks"]["05_vgg"]["torch"] == "2.2.1"
    markdown = path.with_suffix(".md").read_text()
    assert markdown == rehearse.compatibility_markdown(record)
    assert "| torch | 2.2.1 |" in markdown and "| 01_a | ok, 31 s |" in markdown
    readme = rehearse.render_readme("intro\n<!-- compatibility -->\nold\n<!-- /compatibility -->\nrest\n", record)
    assert "torch 2.2.1, torchvision 0.17.0; 2026-01-03): all 2 notebooks passed" in readme
    assert readme.startswith("intro\n<!-- compatibility -->\n") and readme.endswith("<!-- /compatibility -->\nrest\n")
    with pytest.raises(rehearse.RehearsalError, match="README.md needs the markers"):
        rehearse.render_readme("no markers", record)


def test_compatibility_record_reports_failures(tmp_path):
    path = tmp_path / "compatibility.json"
    failed = {"outcome": "failed", "seconds": 4.0, "failure": "05_vgg.ipynb, cell 3 (import x): ImportError: y",
              "details": None}
    record = rehearse.record_compatibility("newest", _FakeRehearsal("2.14.1"), {"05_vgg": failed}, "cmd", path,
                                           today="2026-01-02")
    markdown = path.with_suffix(".md").read_text()
    assert "| 05_vgg | **failed** (4 s) |" in markdown
    assert "- newest, 05_vgg (2026-01-02): `05_vgg.ipynb, cell 3 (import x): ImportError: y`" in markdown
    assert "0 of 1 notebooks passed" in rehearse.readme_block(record)


COMPATIBILITY = rehearse.COMPATIBILITY


def test_the_recorded_versions_are_the_declared_ones():
    """The compatibility record holds a run of both version sets over every notebook, rendered into
    compatibility.md and README; and pyproject.toml's lower bounds are the ones the oldest run verified."""
    record = json.loads(COMPATIBILITY.read_text())
    assert {"oldest", "newest"} <= set(record)
    for name in ("oldest", "newest"):
        assert set(record[name]["notebooks"]) == set(IDS), \
            f"{name}: rerun python -m tools.rehearse colab --versions {name}"
    assert COMPATIBILITY.with_suffix(".md").read_text() == rehearse.compatibility_markdown(record), \
        "compatibility.md is rendered from compatibility.json: rerun the rehearsal, do not edit it"
    readme = (REPO / "README.md").read_text()
    assert readme == rehearse.render_readme(readme, record), "README's compatibility block is rendered from the record"
    assert rehearse.unverified_bounds(record) == []


def test_unverified_bounds_finds_a_bound_nobody_ran(tmp_path):
    record = {"oldest": {"installed": {"torch": "2.2.0", "torchvision": "0.17.0", "numpy": "1.24.0"},
                         "notebooks": {"01_a": {"outcome": "ok", "date": "d", "failure": None}}}}
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["torch>=2.2", "torchvision>=0.17", "numpy>=1.24"]\n')
    assert rehearse.unverified_bounds(record, tmp_path) == []
    pyproject.write_text('[project]\ndependencies = ["torch>=2.3", "torchvision>=0.16", "numpy>=1.24", "tqdm>=4"]\n')
    assert rehearse.unverified_bounds(record, tmp_path) == [
        "torch>=2.3: the oldest rehearsal ran torch 2.2.0, outside the declared range",
        "torchvision>=0.16: the oldest rehearsal ran torchvision 0.17.0, not the declared lower bound",
        "tqdm>=4: the oldest rehearsal ran tqdm None, outside the declared range",
    ]
    record["oldest"]["notebooks"]["01_a"] = {"outcome": "failed", "date": "d", "failure": "boom"}
    pyproject.write_text('[project]\ndependencies = ["torch>=2.2"]\n')
    assert rehearse.unverified_bounds(record, tmp_path) == ["01_a failed in the oldest rehearsal (d): boom"]
    assert rehearse.unverified_bounds({}, tmp_path)[0].startswith("no oldest-versions rehearsal is recorded")


def test_a_cell_timeout_is_named_in_the_failure():
    """nbclient interrupts a cell at the timeout; the error the notebook then shows (a KeyboardInterrupt, or an
    error of code that caught it) does not say why: the record names the cell that timed out."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("train()")])
    nb.cells[0].metadata["papermill"] = {"duration": 2.0}
    nb.cells[1].metadata["papermill"] = {"duration": 300.02}
    assert rehearse._timed_out(nb, 300) == ["cell 2 (train()) reached the 300 s cell timeout and was interrupted"]
    assert rehearse._timed_out(nb, 600) == []
