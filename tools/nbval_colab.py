"""The one way the tests run the notebooks: nbval executes each notebook once, in smoke mode, as on Colab.

``python -m pytest -n 2`` (pyproject.toml: ``--nbval-lax``, test paths ``tests`` and ``notebooks``) collects
every ``notebooks/NN_*.ipynb`` and the Korean notebooks of :data:`KOREAN_SMOKE` with nbval, one test per code
cell; ``python -m pytest notebooks/03_first_cnn.ipynb`` runs one. This plugin (registered by the root
conftest.py) runs them in the Colab rehearsal's environment (tools/rehearse.py): the notebook alone in an empty
folder, a kernel with only what Colab preinstalls, course_utils installed by the notebook's own setup cell
from a git snapshot of this checkout. nbval then

- executes the cells in order, with ``RUN_MODE = "smoke"`` and ``SHOW_SOLUTIONS = True`` set in a cell after
  the parameters cell (as papermill injects them), and fails the cell that raises;
- compares the output of each cell marked ``# NBVAL_CHECK_OUTPUT`` with the output committed in the notebook
  (nbval's own comparison; ``--nbval-lax`` leaves the other cells' outputs free);

and two more tests per notebook check the same execution: ``Colab probe`` (where course_utils came from: the
setup cell's git URL, not editable; the notebook alone in its folder) and ``smoke checks`` (the checks of
``smoke_checks.smoke_problems``: a figure, results that beat chance, within the time budget). A cell that fails
because a module is not declared, or because the notebook reads a file of the repository, says so. The
executed copy is kept in ``artifacts/rehearsal/colab/`` and its figures in ``artifacts/figures/``.

Under pytest-xdist (``-n 2``) each notebook's tests go to one worker, in order (:func:`pytest_xdist_make_scheduler`);
the other tests are spread one by one, as with xdist's default. Other ``.ipynb`` files get nbval's plain collection.
"""
from __future__ import annotations

import copy
import os
import re
import time
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest
from nbval.kernel import RunningKernel
from nbval.plugin import IPyNbCell, IPyNbFile

from benchmarks import records
from tools import execute, nbkit, rehearse, smoke_checks
from tools.paths import NOTEBOOK_DIR, REPO

COURSE_NOTEBOOK = re.compile(r"\d\d_\w+\.ipynb")
KOREAN_SMOKE = ("01_datasets_and_dataloaders", "07_resnet")  # the Korean code cells are the English ones
SMOKE_PARAMETERS = {"RUN_MODE": "smoke", "SHOW_SOLUTIONS": True}  # the exercise solutions run too
BUDGET_S = 180  # per notebook, kernel start and pip install of course_utils included; 90 s is the target
_REHEARSAL = pytest.StashKey[rehearse.ColabRehearsal]()


def is_course_notebook(path: Path) -> bool:
    return bool(COURSE_NOTEBOOK.fullmatch(Path(path).name))


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """This plugin collects the notebooks in nbval's place (nbval's own hook would collect each a second time)."""
    nbval = config.pluginmanager.get_plugin("nbval")
    if nbval is not None:
        config.pluginmanager.unregister(nbval)


def pytest_ignore_collect(collection_path, config):
    """Of notebooks/ko, only :data:`KOREAN_SMOKE` (unless a notebook is named on the command line)."""
    path = Path(collection_path)
    if path.suffix == ".ipynb" and path.parent == NOTEBOOK_DIR / "ko" and path.stem not in KOREAN_SMOKE:
        named = {Path(arg.split("::")[0]).resolve() for arg in config.args}
        return path.resolve() not in named
    if ".ipynb_checkpoints" in path.parts:
        return True
    return None


def pytest_collect_file(file_path, parent):
    option = parent.config.option
    if not (option.nbval or option.nbval_lax) or file_path.suffix != ".ipynb":
        return None
    if is_course_notebook(file_path):
        return ColabNotebook.from_parent(parent, path=file_path)
    return IPyNbFile.from_parent(parent, path=file_path)


# Test files whose tests share one expensive module-scoped fixture that writes to a fixed place: the built
# website (artifacts/site, rebuilt from scratch by each worker that runs one of its tests, so two workers
# would delete each other's pages mid-crawl) and a JupyterLab server. Each runs on one worker, as one unit.
ONE_WORKER_FILES = ("tests/test_site.py", "tests/test_browser.py")


def scheduling_unit(nodeid: str) -> str:
    """The unit of work a test belongs to under ``-n N``: its notebook (a notebook's cells run one after the
    other in one kernel), its file for :data:`ONE_WORKER_FILES`, else the test itself."""
    path = nodeid.split("::", 1)[0]
    return path if path.endswith(".ipynb") or path in ONE_WORKER_FILES else nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scheduler for ``-n N`` (``--dist load``): units of work from :func:`scheduling_unit`."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NotebookScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scheduling_unit(nodeid)

    return NotebookScheduling(config, log)


def pytest_unconfigure(config):
    rehearsal = config.stash.get(_REHEARSAL, None)
    if rehearsal is not None:
        rehearsal.close()


def _rehearsal(config) -> rehearse.ColabRehearsal:
    """The Colab rehearsal's environment, snapshot and wheelhouse: made once per test process."""
    if _REHEARSAL not in config.stash:
        config.stash[_REHEARSAL] = rehearse.ColabRehearsal(log=print)
    return config.stash[_REHEARSAL]


def _cell(source: str, tag: str):
    return nbformat.v4.new_code_cell(source, metadata={"tags": [tag]})


class ColabNotebook(IPyNbFile):
    """A course notebook, run by nbval in the Colab rehearsal's kernel (see the module's docstring)."""

    def setup(self):
        self.started = time.perf_counter()
        self.launched = _rehearsal(self.config).kernel(self.path)
        old = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(self.launched["jupyter_path"]), old]))
        try:
            self.kernel = RunningKernel(self.launched["kernel"], cwd=str(self.launched["folder"]),
                                        startup_timeout=self.config.option.nbval_kernel_startup_timeout)
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old
        self.setup_sanitize_files()

    def teardown(self):
        super().teardown()
        if getattr(self, "launched", None):
            _rehearsal(self.config).release(self.launched)

    def collect(self):
        self.cells: list[IPyNbCell] = []
        self.injected = None
        items = []

        def extra(name, cell):
            return CourseCell.from_parent(self, name=name, cell_num=-1, cell=cell,
                                          options=defaultdict(bool, check=False))

        for item in super().collect():
            item.__class__ = CourseCell  # nbval's cell test, with the rehearsal's hints on failure
            self.cells.append(item)
            items.append(item)
            if "parameters" in item.cell.metadata.get("tags", []):
                source = "\n".join(f"{k} = {v!r}" for k, v in SMOKE_PARAMETERS.items())
                self.injected = extra(f"Cell {item.cell_num} injected parameters",
                                      _cell(source, "injected-parameters"))
                self.cells.append(self.injected)
                items.append(self.injected)
        self.probe = extra("Colab probe", _cell(rehearse.COLAB_PROBE, "probe"))
        items += [self.probe, SmokeChecks.from_parent(self, name="smoke checks")]
        for item in items:
            item.add_marker(pytest.mark.rehearsal)
        return items

    def executed(self) -> nbformat.NotebookNode:
        """The notebook as this run executed it: its cells with this run's outputs (and the injected cell)."""
        nb = copy.deepcopy(self.nb)
        ran = {id(item.cell): item for item in self.cells}
        cells = []
        for cell, original in zip(nb.cells, self.nb.cells, strict=True):
            item = ran.get(id(original))
            if cell.cell_type == "code":
                cell.outputs = [nbformat.from_dict(o) for o in (item.test_outputs or [])] if item else []
                cell.execution_count = None
            cells.append(cell)
            if getattr(self, "injected", None) is not None and item is not None \
                    and "parameters" in cell.metadata.get("tags", []):
                injected = copy.deepcopy(self.injected.cell)
                injected.outputs = [nbformat.from_dict(o) for o in (self.injected.test_outputs or [])]
                cells.append(injected)
        nb.cells = cells
        return nb


class CourseCell(IPyNbCell):
    """nbval's cell test, whose failure says what the Colab rehearsal knows about it."""

    def repr_failure(self, excinfo):
        text = super().repr_failure(excinfo)
        if "ModuleNotFoundError" in text or "No module named" in text:
            text += ("\nThe notebook imports a module that neither Colab's preinstalled packages "
                     f"({', '.join(rehearse.COLAB_PACKAGES)}) nor course_utils' dependencies provide: add its "
                     "distribution to [project] dependencies in pyproject.toml (a lower bound only).")
        elif re.search(r"FileNotFoundError|IsADirectoryError|NotADirectoryError", text):
            text += ("\nOn Colab the notebook arrives alone, without the repository: it must not read files of the "
                     "repository (put what it needs in course_utils, or write it from the notebook).")
        return text


class SmokeChecks(pytest.Item):
    """The checks of the same smoke run, once every cell has run: smoke_checks.smoke_problems, where course_utils came
    from, and the time budget."""

    def runtest(self):
        notebook: ColabNotebook = self.parent
        executed = notebook.executed()
        out = rehearse.ARTIFACTS / "colab" / (
            f"ko_{self.path.name}" if self.path.parent.name == "ko" else self.path.name)
        out.parent.mkdir(parents=True, exist_ok=True)
        nbkit.write(executed, out)
        unrun = [item.name for item in notebook.cells if item.test_outputs is None]
        error = execute.first_error(executed)
        if error or unrun:
            where = error["where"] if error else f"{unrun[0]} did not run"
            pytest.fail(f"{self.path.name}: the smoke run failed at {where} (see that cell's test); executed copy: "
                        f"{out}", pytrace=False)
        name = f"ko_{self.path.stem}" if self.path.parent.name == "ko" else self.path.stem
        seconds = time.perf_counter() - notebook.started
        records.record(rehearse.ARTIFACTS / "seconds.json", ("colab", name), round(seconds, 1))
        nbkit.save_figures(executed, REPO / "artifacts" / "figures", name)
        problems = smoke_checks.smoke_problems(notebook.nb, executed)
        probe = nbkit.outputs(nbformat.v4.new_notebook(cells=[_probe_cell(notebook)]), rehearse.PROBE_MIMETYPE)
        problems += _rehearsal(self.config).check_probe(probe, notebook.launched["overlay"])
        if (probe.get("direct_url") or {}).get("dir_info", {}).get("editable"):
            problems.append("course_utils must not be an editable install")
        if self.path.name not in probe.get("cwd_files", []):
            problems.append(f"the kernel's folder should hold the notebook: {probe.get('cwd_files')}")
        if seconds > BUDGET_S:
            problems.append(f"the smoke run took {seconds:.0f} s (budget {BUDGET_S} s, target 90 s): see the cells' "
                            "durations (pytest --durations)")
        assert not problems, f"{self.path.name} (smoke mode, as on Colab):\n" + "\n".join(problems)

    def reportinfo(self):
        return self.path, 0, f"{self.path.name}::smoke checks"


def _probe_cell(notebook: ColabNotebook):
    cell = copy.deepcopy(notebook.probe.cell)
    cell.outputs = [nbformat.from_dict(o) for o in (notebook.probe.test_outputs or [])]
    return cell
