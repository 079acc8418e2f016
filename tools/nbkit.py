"""The one notebook toolkit for tests, tools and benchmarks: find, read, execute and inspect notebooks.

    from tools import nbkit
    for path in nbkit.notebooks():
        nb = nbkit.read(path)
        print(path.name, len(nbkit.code_cells(nb)), nbkit.imports(nb))

Import it as ``tools.nbkit`` with the repository root on ``sys.path``: pytest puts it there (the root
``conftest.py``), and scripts run from the repository root as ``python -m tools.<name>`` or
``python -m benchmarks.<name>``. What lives here and nowhere else:

- which files are the course notebooks (:func:`notebooks`, :func:`all_notebooks`);
- reading and writing them, cell sources, the parameters and setup cells, the imports of the code;
- executing one headless with papermill (:func:`execute`, also ``python -m tools.nbkit NOTEBOOK``) and
  reading back what it reported (:func:`results`, :func:`outputs`, :func:`figures`, :func:`first_error`);
- the repository the course is published from (:func:`repository`, from pyproject.toml) and the
  measurements in ``benchmarks/results`` (:func:`measurements`).
"""
from __future__ import annotations

import ast
import base64
import contextlib
import functools
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

import nbformat

from tools.links import SETUP_MARKER
from tools.paths import NOTEBOOK_DIR, REPO, RESULTS_DIR

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
RESULTS_MIMETYPE = "application/vnd.course-results+json"  # course_utils.results.RESULTS_MIMETYPE


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


RUN_MODE_KEYS = {"smoke", "fast", "full"}  # course_utils.RUN_MODES


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


# Seconds one cell may run in the tests' notebook executions before the run fails: no cell of a smoke or
# full-shape run needs a minute, so only a lost message reaches it, and the run fails in minutes instead of
# at CI's 90-minute limit.
TEST_CELL_TIMEOUT_S = 300

ENGINE = "course_nbclient"  # papermill's nbclient engine, with nbclient's Output widget fixed (below)


@functools.cache
def output_widget_class() -> type:
    """nbclient's stand-in for a front end's ``ipywidgets.Output``, with a race fixed.

    A cell that draws into an ``Output`` widget (notebook 02's augmentation explorer) makes nbclient act as
    the front end: for each output captured, its ``OutputWidget`` sends a comm message back to the kernel on
    the shell socket. ``jupyter_client``'s ``Session.send`` sends it on a blocking shadow of the client's
    asyncio socket, behind pyzmq's back. ZeroMQ signals new messages on an edge-triggered file descriptor,
    and that raw send can consume the signal of the execute reply that arrives at the same moment: the
    client then never sees the reply while it waits. The cell "ends" only when the wait's timeout fires and
    a last check finds the reply (in CI, 02's explorer cell took 300.0 s, the timeout, instead of 0.4 s;
    with no timeout, the run hangs; reported upstream as nbclient issue 312, open). Sending through pyzmq's
    asyncio API makes pyzmq check the socket again after the send, so no reply is missed
    (``tests/test_notebooks.py`` shows both).
    """
    import zmq.asyncio
    from nbclient.jsonutil import json_clean
    from nbclient.output_widget import OutputWidget

    class CourseOutputWidget(OutputWidget):
        def _publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            socket = self.kernel_client.shell_channel.socket
            if not isinstance(socket, zmq.asyncio.Socket):  # a blocking client: no race to avoid
                return super()._publish_msg(msg_type, data, metadata, buffers, **keys)
            content = json_clean(dict(data=data or {}, comm_id=self.comm_id, **keys))
            session = self.kernel_client.session
            msg = session.msg(msg_type, content=content, parent=self.parent_header, metadata=metadata or {})
            socket.send_multipart(session.serialize(msg) + list(buffers or []))  # sent now; then pyzmq re-checks

    return CourseOutputWidget


@functools.cache
def _engine_name() -> str:
    """Register (once) and name papermill's nbclient engine that uses :func:`output_widget_class`."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger

    class Client(PapermillNotebookClient):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.widget_registry["@jupyter-widgets/output"] = {"OutputModel": output_widget_class()}

    class Engine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
            for name in ("input_path", "timeout", "startup_timeout"):  # as papermill's own engine
                kwargs.pop(name, None)
            return Client(nb_man, timeout=execution_timeout, startup_timeout=start_timeout, kernel_name=kernel_name,
                          log=logger, log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file,
                          **kwargs).execute()

    papermill_engines.register(ENGINE, Engine)
    return ENGINE


def execute(path: Path, out: Path, parameters: dict | None = None, cwd: Path | None = None,
            timeout: int | None = None, kernel_name: str = "python3",
            append: Iterable[str] = ()) -> nbformat.NotebookNode:
    """Execute a notebook headless with papermill (``parameters`` injected); return the executed copy.

    ``cwd``: the kernel's working directory (default: the notebook's folder). ``timeout``: seconds per
    cell. ``append``: code cells added at the end before running (e.g. a probe that reports memory).
    On an error in a cell, papermill's ``PapermillExecutionError`` propagates; ``out`` then holds the
    notebook executed up to that cell (:func:`first_error` reads it).
    """
    import papermill

    path, out = Path(path), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    source_path = path
    if append:
        nb = read(path)
        nb.cells.extend(nbformat.v4.new_code_cell(code) for code in append)
        source_path = out.with_name(f".{out.stem}.source.ipynb")
        nbformat.write(nb, str(source_path))
    try:
        papermill.execute_notebook(str(source_path), str(out), parameters=parameters or {}, kernel_name=kernel_name,
                                   language="python", engine_name=_engine_name(),
                                   cwd=str(cwd or path.parent), progress_bar=False, execution_timeout=timeout)
    finally:
        if source_path != path:
            source_path.unlink(missing_ok=True)
    return read(out)


CHECKED_OUTPUT = "NBVAL_CHECK_OUTPUT"  # a code cell whose committed output must be reproduced exactly (nbval's marker)


def _printed(cell) -> str:
    """What a cell printed: its stdout and stderr streams and its text/plain results, in order.

    Consecutive outputs of one stream count as one: the kernel sends what a cell prints in chunks, and
    where it cuts depends on timing (a busy machine cuts one ``print`` output into two)."""
    parts = []
    stream = None
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == stream:
            parts.append(out.get("text", ""))
            continue
        stream = out.get("name") if out.get("output_type") == "stream" else None
        if out.get("output_type") == "stream":
            parts.append(f"[{out.get('name')}] {out.get('text', '')}")
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(f"[{out['output_type']}] {out.get('data', {}).get('text/plain', '')}")
        elif out.get("output_type") == "error":
            parts.append(f"[error] {out.get('ename')}: {out.get('evalue')}")
    return "".join(parts)


def checked_output_mismatches(committed, executed) -> list[str]:
    """Cells marked ``# NBVAL_CHECK_OUTPUT`` whose printed output in ``executed`` differs from the output
    committed in ``committed`` (cells matched by id; papermill's injected cell has its own id)."""
    ran = {c.get("id"): c for c in executed.cells}
    problems = []
    for index, cell in enumerate(committed.cells):
        if cell.cell_type != "code" or CHECKED_OUTPUT not in source(cell):
            continue
        if cell.get("id") not in ran:
            problems.append(f"cell {index} (id {cell.get('id')}) was not executed")
        elif _printed(cell) != _printed(ran[cell.id]):
            problems.append(f"cell {index} (id {cell.id}) printed something else:\n--- committed\n{_printed(cell)}"
                            f"\n--- this run\n{_printed(ran[cell.id])}")
    return problems


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


def smoke_problems(committed, executed) -> list[str]:
    """What is wrong with a smoke run: ``executed`` is ``committed`` run with ``RUN_MODE="smoke"``.

    The checks of each notebook's smoke run (tools/nbval_colab.py, after nbval has run every cell and compared
    the ``# NBVAL_CHECK_OUTPUT`` cells with their committed outputs): at least one figure is drawn, the
    notebook ends with ``course_utils.show_results`` in smoke mode, and every reported accuracy beats the
    reported chance accuracy. Empty when all hold.
    """
    problems = []
    if not figures(executed):
        problems.append("every notebook should draw at least one figure")
    reported = results(executed)
    if not reported:
        return problems + ["the notebook must end with course_utils.show_results({...})"]
    if reported.get("run_mode") != "smoke":
        problems.append(f"show_results reported run_mode={reported.get('run_mode')!r}, expected 'smoke'")
    chance = reported.get("chance_accuracy")
    for key, value in reported.items():
        if key.endswith("accuracy") and key != "chance_accuracy":
            if chance is None:
                problems.append(f"{key} is reported without chance_accuracy next to it")
            elif not value > chance:
                problems.append(f"{key}={value} is not above chance ({chance}) after the smoke run")
    return problems


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


_ADDED_BY_PAPERMILL = {"injected-parameters", "papermill-error-cell-tag"}


def _numbered(nb):
    """``(number, cell, first line of its code)`` for the cells as written: numbered from 1, without the
    cells papermill adds (its injected parameters, its error banners)."""
    number = 0
    for cell in nb.cells:
        if _ADDED_BY_PAPERMILL & set(cell.get("metadata", {}).get("tags", [])):
            continue
        number += 1
        yield number, cell, next((line for line in source(cell).splitlines() if line.strip()), "")


def first_error(nb) -> dict | None:
    """The first error output of an executed notebook, or None:
    ``{"cell", "first_line", "ename", "evalue", "where"}``, ``where`` saying all of it in one line.

    ``cell`` counts from 1 in the notebook as written: the cells papermill adds are not counted.
    ``first_line`` is the cell's first line of code.
    """
    for number, cell, first in _numbered(nb):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error":
                ename, evalue = output.get("ename", ""), output.get("evalue", "")
                return {"cell": number, "first_line": first, "ename": ename, "evalue": evalue,
                        "where": f"cell {number} ({first[:60]}): {ename}: {evalue}"}
    return None


def slowest_cells(nb, count: int = 3) -> str:
    """The ``count`` longest cells of a papermill run, e.g. ``cell 15 (explorer = ...) 300.0 s``: for a
    message that says where the time went. Cells are numbered as in :func:`first_error`."""
    timed = [(cell.metadata["papermill"]["duration"], f"cell {number} ({first[:40]})")
             for number, cell, first in _numbered(nb)
             if cell.cell_type == "code" and cell.get("metadata", {}).get("papermill", {}).get("duration") is not None]
    return ", ".join(f"{where} {seconds:.1f} s" for seconds, where in sorted(timed, reverse=True)[:count]) \
        or "no cell timings"


@contextlib.contextmanager
def locked(path: Path):
    """Hold an exclusive lock on the file ``path`` (created when missing) for the ``with`` block, so that
    several processes (pytest-xdist workers, two test runs) take turns. POSIX; elsewhere it does not lock."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: one process at a time is assumed
        fcntl = None
    with open(path, "w") as handle:
        if fcntl:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl:
                fcntl.flock(handle, fcntl.LOCK_UN)


def record(path: Path, keys: tuple[str, ...], value) -> None:
    """Set ``data[keys[0]][keys[1]]... = value`` in the JSON file ``path``, creating it when missing; safe when
    several test processes record into the same file at once (:func:`locked`, on a ``.lock`` file beside it)."""
    path = Path(path)
    with locked(path.with_name(path.name + ".lock")):
        data = json.loads(path.read_text()) if path.exists() else {}
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def measurements(mode: str, results_dir: Path = RESULTS_DIR) -> dict:
    """What ``benchmarks/notebook_resources.py`` recorded in ``mode`` (``{}`` when nothing was)."""
    path = Path(results_dir) / f"notebook_resources_{mode}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _value(text: str):
    """A parameter given on the command line: a Python literal (1, 0.5, True, None), else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.nbkit NOTEBOOK... [-p NAME VALUE]...``: execute notebooks headless as the tests do."""
    import argparse
    import time

    parser = argparse.ArgumentParser(
        prog="python -m tools.nbkit",
        description="Execute notebooks headless with papermill, as the tests do (nbclient's Output-widget race "
                    "fixed, see output_widget_class). Each executed copy is written to --out.")
    parser.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="set a parameters-cell value, e.g. -p RUN_MODE smoke -p EPOCHS 2")
    parser.add_argument("--out", type=Path, default=REPO / "artifacts" / "executed",
                        help="folder for the executed copies (default: artifacts/executed)")
    parser.add_argument("--timeout", type=int, default=None, help="seconds one cell may run (default: no limit)")
    args = parser.parse_args(argv)
    missing = [str(path) for path in args.notebooks if not path.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    parameters = {name: _value(value) for name, value in args.parameter}
    failed = 0
    for path in args.notebooks:
        out = args.out / path.name
        start = time.perf_counter()
        try:
            execute(path, out, parameters, timeout=args.timeout)
        except Exception as exc:  # a cell's error, a timeout, a dead kernel: report it, go on with the next
            failed += 1
            error = first_error(read(out)) if out.exists() else None
            where = error["where"] if error else f"{type(exc).__name__}: {exc}"[:500]
            print(f"{path.name}: FAILED at {where} (executed copy: {out})")
            continue
        print(f"{path.name}: ran in {time.perf_counter() - start:.0f} s -> {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
