"""Reading the course notebooks: which files they are, their cells, parameters and outputs.

    from tools import nbkit
    for path in nbkit.notebooks():
        nb = nbkit.read(path)
        print(path.name, len(nbkit.code_cells(nb)), nbkit.mode_knobs(nb))

Import it as ``tools.nbkit`` with the repository root on ``sys.path``: pytest puts it there (the root
``conftest.py``), and scripts run from the repository root as ``python -m tools.<name>`` or
``python -m benchmarks.<name>``. What lives here and nowhere else:

- which files are the course notebooks (:func:`notebooks`, :func:`all_notebooks`, :func:`select`);
- reading and writing them, cell sources, the title, setup and parameters cells, the per-mode knobs, the
  imports of the code, the hash of the code (:func:`code_hash`);
- what a notebook's outputs show: the results it reported (:func:`results`), other JSON outputs
  (:func:`outputs`), its figures (:func:`figures`), and the marker of cells whose output is checked
  (:data:`CHECKED_OUTPUT`).

Elsewhere: executing notebooks (tools/execute.py), what a smoke run must show (tools/smoke_checks.py), links
and badges (tools/links.py), the measurement records (benchmarks/records.py).
"""
from __future__ import annotations

import ast
import base64
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

import nbformat

from tools.links import SETUP_MARKER
from tools.paths import NOTEBOOK_DIR

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
TITLE = re.compile(r"^# (\d\d) · (.+)$", re.M)  # a notebook's title line: ``# NN · Title``
# The type of the JSON output of course_utils.show_results. course_utils/results.py holds the same string: the
# tools read notebooks without importing course_utils (and torch with it); tests/test_notebooks.py checks that
# the two agree.
RESULTS_MIMETYPE = "application/vnd.course-results+json"
# nbval's marker, in a comment of a code cell whose committed output every smoke run must reproduce exactly.
CHECKED_OUTPUT = "NBVAL_CHECK_OUTPUT"


def notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The numbered course notebooks (``NN_name.ipynb``) of ``folder``, in course order."""
    return sorted(Path(folder).glob(NOTEBOOK_GLOB))


def all_notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """Every notebook under ``folder``, recursively (editions such as ``notebooks/ko/`` included)."""
    return sorted(p for p in Path(folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def select(names: Iterable[str]) -> list[Path]:
    """Notebooks named by number (``05``), stem or path, for command lines; every notebook when none is named."""
    every = notebooks()
    chosen = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.exists():
            chosen.append(path.resolve())
            continue
        found = [p for p in every if p.stem == name or p.name.startswith(f"{name}_")]
        if len(found) != 1:
            raise SystemExit(f"no single notebook matches {name!r} (have: {', '.join(p.stem for p in every)})")
        chosen += found
    return chosen or every


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def text(nb) -> str:
    """The file text of ``nb`` as the repository keeps it (nbformat's JSON, ending in a newline)."""
    written = nbformat.writes(nb)
    return written if written.endswith("\n") else written + "\n"


def write(nb, path: Path) -> bool:
    """Write ``nb`` to ``path`` if its text changed; return whether it did."""
    path, new = Path(path), text(nb)
    if path.exists() and path.read_text() == new:
        return False
    path.write_text(new)
    return True


def source(cell) -> str:
    """A cell's source as one string (nbformat allows a string or a list of lines)."""
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def cells(nb, cell_type: str | None = None) -> list:
    return [c for c in nb.cells if cell_type is None or c.cell_type == cell_type]


def code_cells(nb) -> list:
    return cells(nb, "code")


def markdown_cells(nb) -> list:
    return cells(nb, "markdown")


def header(nb) -> str:
    """The source of the first cell: title, summary, badges, runtime line."""
    return source(nb.cells[0])


def setup_cells(nb) -> list:
    """The code cells that start with the Colab setup marker (there should be exactly one)."""
    return [c for c in code_cells(nb) if source(c).startswith(SETUP_MARKER)]


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


RUN_MODE_KEYS = {"smoke", "fast", "full"}  # course_utils.RUN_MODES (tests/test_notebooks.py checks they agree)


def mode_knobs(nb) -> dict[str, dict]:
    """The knobs of the parameters cell that hold one value per run mode (``EPOCHS = {"smoke": 1, "fast": 4,
    "full": 30}``, read by ``course_utils.RunSettings``), as ``{name: {mode: value}}``, in cell order."""
    found = {}
    for node in ast.parse(_without_magics(source(parameters_cell(nb)))).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Dict)):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            if set(value) == RUN_MODE_KEYS:
                found[node.targets[0].id] = value
    return found


def code_hash(nb) -> str:
    """A hash of what the code cells of ``nb`` say (their sources, in order; the Colab setup cell left out, as
    it is rendered from pyproject.toml and changes with the repository, not with what the notebook computes).
    Recorded outputs are fresh while it equals the hash their run recorded (benchmarks/recorded_outputs.py)."""
    sources = [source(c) for c in code_cells(nb) if not source(c).startswith(SETUP_MARKER)]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()[:16]


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


def _without_magics(code: str) -> str:
    """``code`` with IPython magics and shell escapes (``%pip``, ``!ls``) replaced by ``pass``."""
    lines = []
    for line in code.splitlines():
        stripped = line.lstrip()
        lines.append(line[: len(line) - len(stripped)] + "pass" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


def imports(nb) -> list[tuple[int, str]]:
    """``(cell index from 0, top-level module)`` for every absolute import in the code cells, in order.

    ``import a.b`` and ``from a.b import c`` give ``a``; relative imports are skipped; magics are ignored.
    A cell that is not valid Python raises ``SyntaxError`` naming the cell.
    """
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tree = ast.parse(_without_magics(source(cell)), filename=f"cell {index}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(index, alias.name.split(".")[0]) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((index, node.module.split(".")[0]))
    return found


def outputs(nb, mimetype: str) -> dict:
    """The JSON outputs of type ``mimetype`` in all code cells, merged into one dict (later ones win)."""
    found = {}
    for cell in code_cells(nb):
        for output in cell.get("outputs", []):
            found.update(output.get("data", {}).get(mimetype, {}))
    return found


def results(nb) -> dict:
    """The values a notebook reported with ``course_utils.show_results`` (read from its outputs)."""
    return outputs(nb, RESULTS_MIMETYPE)


def figures(nb) -> list[bytes]:
    """Every PNG image the notebook drew, in order, as bytes."""
    return [base64.b64decode(output["data"]["image/png"]) for cell in code_cells(nb)
            for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]


def save_figures(nb, folder: Path, name: str) -> int:
    """Write the figures of ``nb`` to ``folder/name_01.png``... (replacing an earlier run's); return how many."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{name}_*.png"):
        old.unlink()
    pngs = figures(nb)
    for count, png in enumerate(pngs, 1):
        (folder / f"{name}_{count:02d}.png").write_bytes(png)
    return len(pngs)
