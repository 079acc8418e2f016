"""The one notebook toolkit for tests, tools and benchmarks: find, read, execute and inspect notebooks.

    from tools import nbkit
    for path in nbkit.notebooks():
        nb = nbkit.read(path)
        print(path.name, len(nbkit.code_cells(nb)))

Import it as ``tools.nbkit`` with the repository root on ``sys.path`` (pytest puts it there through
the root ``conftest.py``; scripts run as ``python -m tools.<name>`` or ``python -m benchmarks.<name>``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
RESULTS_MIMETYPE = "application/vnd.course-results+json"  # course_utils.results.RESULTS_MIMETYPE


def notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The numbered course notebooks (``NN_name.ipynb``) of ``folder``, in course order."""
    return sorted(Path(folder).glob(NOTEBOOK_GLOB))


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def source(cell) -> str:
    """A cell's source as one string (nbformat allows a string or a list of lines)."""
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def cells(nb, cell_type: str | None = None) -> list:
    return [c for c in nb.cells if cell_type is None or c.cell_type == cell_type]


def code_cells(nb) -> list:
    return cells(nb, "code")


def markdown_cells(nb) -> list:
    return cells(nb, "markdown")


def parameters_cell(nb):
    """The one code cell tagged ``parameters`` (papermill injects its values after it)."""
    tagged = [c for c in code_cells(nb) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"expected exactly one cell tagged 'parameters', found {len(tagged)}")
    return tagged[0]


def parameters(nb) -> dict[str, str]:
    """Names assigned in the parameters cell, mapped to the source text of their value."""
    found = {}
    for line in source(parameters_cell(nb)).splitlines():
        if m := re.match(r"^([A-Z][A-Z0-9_]*)\s*=\s*(.+?)(?:\s+#.*)?$", line):
            found[m.group(1)] = m.group(2)
    return found


def find_cells(nb, pattern: str, cell_type: str = "code") -> list:
    """Cells of ``cell_type`` whose source matches the regular expression ``pattern``."""
    regex = re.compile(pattern, re.M)
    return [c for c in cells(nb, cell_type) if regex.search(source(c))]


def find_cell(nb, pattern: str, cell_type: str = "code"):
    """The single cell matching ``pattern``; a clear error when there are none or several."""
    found = find_cells(nb, pattern, cell_type)
    if len(found) != 1:
        raise LookupError(f"expected one {cell_type} cell matching {pattern!r}, found {len(found)}")
    return found[0]


def exec_cells(path: Path, patterns: Iterable[str], namespace: dict | None = None) -> dict:
    """Run the code cells of notebook ``path`` that match ``patterns`` (in notebook order) in ``namespace``.

    For tests that check a class or function written in a notebook against its package copy: only
    the named cells run, so nothing slow (data, training) happens. IPython magics are not allowed.
    """
    nb = read(path)
    chosen = {id(find_cell(nb, p)) for p in patterns}
    namespace = {"__name__": "__notebook__"} if namespace is None else namespace
    for index, cell in enumerate(nb.cells):
        if id(cell) in chosen:
            exec(compile(source(cell), f"{path.name}[cell {index}]", "exec"), namespace)
    return namespace


def execute(path: Path, out: Path, parameters: dict | None = None, cwd: Path | None = None,
            timeout: int | None = None) -> nbformat.NotebookNode:
    """Execute a notebook headless with papermill (``parameters`` injected); return the executed copy."""
    import papermill

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(path), str(out), parameters=parameters or {}, kernel_name="python3",
                               cwd=str(cwd or Path(path).parent), progress_bar=False, execution_timeout=timeout)
    return read(out)


def results(nb) -> dict:
    """The values a notebook reported with ``course_utils.show_results`` (read from its outputs)."""
    found = {}
    for cell in code_cells(nb):
        for output in cell.get("outputs", []):
            found.update(output.get("data", {}).get(RESULTS_MIMETYPE, {}))
    return found
