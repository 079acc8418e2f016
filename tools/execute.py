"""Executing notebooks headless, as the tests and the benchmarks do, and reading back how the run went.

    python -m tools.execute notebooks/03_first_cnn.ipynb -p RUN_MODE fast    # -> artifacts/executed/

:func:`execute` runs one notebook with papermill (parameters injected after its ``parameters`` cell) on
papermill's nbclient engine with nbclient's Output widget fixed (:func:`output_widget_class`: without the fix,
notebook 02's explorer cell can wait for its cell timeout). :func:`first_error` and :func:`slowest_cells` read
an executed copy: where it failed, where the time went. Reading notebooks is :mod:`tools.nbkit`'s job.
"""
from __future__ import annotations

import argparse
import ast
import functools
import time
from collections.abc import Iterable
from pathlib import Path

import nbformat

from tools import nbkit
from tools.paths import REPO

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
        nb = nbkit.read(path)
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
    return nbkit.read(out)


_ADDED_BY_PAPERMILL = {"injected-parameters", "papermill-error-cell-tag"}


def numbered_cells(nb):
    """``(number, cell, first line of its code)`` for the cells as written: numbered from 1, without the
    cells papermill adds (its injected parameters, its error banners)."""
    number = 0
    for cell in nb.cells:
        if _ADDED_BY_PAPERMILL & set(cell.get("metadata", {}).get("tags", [])):
            continue
        number += 1
        yield number, cell, next((line for line in nbkit.source(cell).splitlines() if line.strip()), "")


def first_error(nb) -> dict | None:
    """The first error output of an executed notebook, or None:
    ``{"cell", "first_line", "ename", "evalue", "where"}``, ``where`` saying all of it in one line.

    ``cell`` counts from 1 in the notebook as written: the cells papermill adds are not counted.
    ``first_line`` is the cell's first line of code.
    """
    for number, cell, first in numbered_cells(nb):
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
             for number, cell, first in numbered_cells(nb)
             if cell.cell_type == "code" and cell.get("metadata", {}).get("papermill", {}).get("duration") is not None]
    return ", ".join(f"{where} {seconds:.1f} s" for seconds, where in sorted(timed, reverse=True)[:count]) \
        or "no cell timings"


def _value(text: str):
    """A parameter given on the command line: a Python literal (1, 0.5, True, None), else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.execute NOTEBOOK... [-p NAME VALUE]...``: execute notebooks headless as the tests do."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.execute",
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
            error = first_error(nbkit.read(out)) if out.exists() else None
            where = error["where"] if error else f"{type(exc).__name__}: {exc}"[:500]
            print(f"{path.name}: FAILED at {where} (executed copy: {out})")
            continue
        print(f"{path.name}: ran in {time.perf_counter() - start:.0f} s -> {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
