"""Every notebook in notebooks/: hygiene checks, and how the tests run the notebooks.

The notebooks themselves are executed by nbval (``python -m pytest`` collects notebooks/ too; pyproject.toml
passes ``--nbval-lax``), once each, in smoke mode, as on Colab (tools/nbval_colab.py): nbval compares the
``# NBVAL_CHECK_OUTPUT`` cells with their committed outputs, and the smoke checks (tools/smoke_checks.py: a
figure, results above chance) run on the same execution. Executed copies are kept in
artifacts/rehearsal/colab/ and their figures in artifacts/figures/. The Korean notebooks (notebooks/ko/) have
exactly the English code cells (tests/test_translations.py), so only ``nbval_colab.KOREAN_SMOKE`` of them run.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import nbformat
import pytest

from conftest import TEST_CELL_TIMEOUT_S
from course_utils import RUN_MODES
from course_utils.results import RESULTS_MIMETYPE
from tools import execute, nbkit, nbval_colab, smoke_checks
from tools.paths import REPO

NOTEBOOKS = nbkit.notebooks()
IDS = [p.stem for p in NOTEBOOKS]
KOREAN = [REPO / "notebooks" / "ko" / f"{stem}.ipynb" for stem in nbval_colab.KOREAN_SMOKE]


def test_toolkit_reads_what_the_package_writes():
    """tools/nbkit.py reads notebooks without importing course_utils: its copies of the package's names agree."""
    assert nbkit.RESULTS_MIMETYPE == RESULTS_MIMETYPE, "tools/nbkit.py and course_utils/results.py disagree"
    assert set(RUN_MODES) == nbkit.RUN_MODE_KEYS, "tools/nbkit.py and course_utils/env.py disagree on the run modes"


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 3, "notebooks/ should hold the numbered course notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_hygiene(path):
    nb = nbkit.read(path)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and nbkit.header(nb).startswith("# "), "first cell: a markdown title"
    assert "RUN_MODE" in nbkit.parameters(nb), "the parameters cell must set RUN_MODE"  # raises unless one cell
    # outputs: none (# NBVAL_CHECK_OUTPUT cells aside) or one complete, fresh run (tests/test_recorded_outputs.py)
    assert "Exercises" in "".join(nbkit.source(c) for c in nbkit.markdown_cells(nb))


def test_same_seed_same_smoke_numbers(tmp_path):
    """Notebook 07 (seeded augmentation on the device, shuffling, a one-cycle schedule; one of the quickest
    training notebooks) run twice in smoke mode on the CPU: identical losses and accuracies."""
    path = REPO / "notebooks" / "07_resnet.ipynb"
    runs = []
    for attempt in (1, 2):
        results = nbkit.results(execute.execute(path, tmp_path / f"run{attempt}_{path.name}", {"RUN_MODE": "smoke"},
                                              timeout=TEST_CELL_TIMEOUT_S))
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
    assert smoke_checks.checked_output_mismatches(committed, executed) == [], "same output, and unmarked cells are free"
    executed.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="41\n")]
    [problem] = smoke_checks.checked_output_mismatches(committed, executed)
    assert "cell 0 (id answer)" in problem and "42" in problem and "41" in problem
    # the same text cut into two chunks of stdout (as a busy kernel sends it) is the same output
    executed.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text) for text in ("4", "2\n")]
    assert smoke_checks.checked_output_mismatches(committed, executed) == []
    executed.cells[0].outputs.insert(1, nbformat.v4.new_output("stream", name="stderr", text="warning\n"))
    assert len(smoke_checks.checked_output_mismatches(committed, executed)) == 1, \
        "stderr between the chunks is a change"
    executed.cells = executed.cells[1:]
    assert smoke_checks.checked_output_mismatches(committed, executed) == ["cell 0 (id answer) was not executed"]



def test_a_failed_smoke_run_is_reported():
    """smoke_checks.smoke_problems can fail: no figure, an accuracy at chance, a run in the wrong mode, no results."""
    import nbformat

    def executed(results, png=True):
        cell = nbformat.v4.new_code_cell("cu.show_results(...)", id="end")
        cell.outputs = [nbformat.v4.new_output("display_data", data={RESULTS_MIMETYPE: results})]
        if png:
            cell.outputs.append(nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="}))
        return nbformat.v4.new_notebook(cells=[cell])

    committed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("cu.show_results(...)", id="end")])
    good = {"run_mode": "smoke", "chance_accuracy": 0.1, "test_accuracy": 0.3}
    assert smoke_checks.smoke_problems(committed, executed(good)) == []
    [problem] = smoke_checks.smoke_problems(committed, executed({**good, "test_accuracy": 0.1}))
    assert "test_accuracy=0.1 is not above chance (0.1)" in problem
    [problem] = smoke_checks.smoke_problems(committed, executed({**good, "run_mode": "fast"}))
    assert "expected 'smoke'" in problem
    [problem] = smoke_checks.smoke_problems(committed, executed({"run_mode": "smoke", "val_accuracy": 0.5}))
    assert "without chance_accuracy" in problem
    assert smoke_checks.smoke_problems(committed, executed({}, png=False)) == [
        "every notebook should draw at least one figure", "the notebook must end with course_utils.show_results({...})"]


def _collected(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_every_notebook_is_run_once_by_nbval():
    """A whole test run (the default test paths) executes each notebook once, with nbval: one test per code cell,
    then the Colab probe and the smoke checks of that execution; no other test runs a notebook in smoke mode."""
    collected = _collected()
    for path in NOTEBOOKS + KOREAN:
        name = path.relative_to(REPO).as_posix()
        cells = [line for line in collected if line.startswith(f"{name}::Cell ")]
        code = [c for c in nbkit.code_cells(nbkit.read(path))]
        assert len(cells) == len(code) + 1, f"{name}: one test per code cell, and the injected parameters"
        assert f"{name}::Colab probe" in collected and f"{name}::smoke checks" in collected
    others = [p for p in nbkit.notebooks(REPO / "notebooks" / "ko") if p.stem not in nbval_colab.KOREAN_SMOKE]
    assert not [line for line in collected if any(line.startswith(p.relative_to(REPO).as_posix()) for p in others)]
    assert not [line for line in collected if "smoke_mode" in line or "as_on_colab" in line], "one way, not two"


def _notebook(path, *cells: tuple[str, str | None]):
    """A notebook of code cells ``(source, committed stdout)``: a cell with a committed stdout looks run."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for count, (code, printed) in enumerate(cells, 1):
        cell = nbformat.v4.new_code_cell(code)
        if printed is not None:
            cell.execution_count = count
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
        nb.cells.append(cell)
    nbkit.write(nb, path)
    return path


def test_nbval_fails_on_a_changed_output(tmp_path):
    """nbval itself compares a # NBVAL_CHECK_OUTPUT cell with its committed output, and only those cells."""
    same = _notebook(tmp_path / "same.ipynb", ("# NBVAL_CHECK_OUTPUT\nprint(6 * 7)", "42\n"),
                     ("print('anything')", "something else\n"))
    changed = _notebook(tmp_path / "changed.ipynb", ("# NBVAL_CHECK_OUTPUT\nprint(6 * 7)", "41\n"))
    runs = {path.name: subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                                       "--nbval-lax", "--nbval-current-env", "-o", "addopts=", str(path)],
                                      cwd=REPO, capture_output=True, text=True, timeout=300)
            for path in (same, changed)}
    assert runs["same.ipynb"].returncode == 0, runs["same.ipynb"].stdout[-3000:]
    assert runs["changed.ipynb"].returncode == 1, runs["changed.ipynb"].stdout[-3000:]
    assert "Cell outputs differ" in runs["changed.ipynb"].stdout and "41" in runs["changed.ipynb"].stdout


def test_records_from_parallel_test_processes_are_all_kept(tmp_path):
    """Under pytest -n 2 two workers record notebook times into one JSON file: records.record keeps every entry."""
    timings = tmp_path / "seconds.json"
    code = ("import sys\nfrom benchmarks import records\n"
            "for i in range(200):\n    records.record(sys.argv[1], ('runs', f'{sys.argv[2]}-{i}'), i)")
    writers = [subprocess.Popen([sys.executable, "-c", code, str(timings), str(n)], cwd=REPO) for n in range(4)]
    assert [w.wait(timeout=120) for w in writers] == [0] * 4
    assert len(json.loads(timings.read_text())["runs"]) == 4 * 200


def _seconds_to_see_a_reply(widget_class, wait_s: float = 2.0) -> float:
    """The race behind 02's 300-second explorer cell, replayed on real ZeroMQ sockets.

    A client waits on its shell channel for an execute reply. The reply reaches the client's socket while
    the event loop is busy, and then the Output-widget stand-in sends a comm message on that socket, as
    nbclient's does for each output a cell draws into an ``ipywidgets.Output``. Returns how long the
    waiting client took to see the reply."""
    import asyncio
    from types import SimpleNamespace

    import zmq
    import zmq.asyncio
    from jupyter_client.channels import AsyncZMQSocketChannel
    from jupyter_client.session import Session

    async def scenario():
        kernel = zmq.Context.instance().socket(zmq.ROUTER)  # plays the kernel's shell socket
        kernel.rcvtimeo = 5000
        port = kernel.bind_to_random_port("tcp://127.0.0.1")
        client = zmq.asyncio.Context.instance().socket(zmq.DEALER)
        client.connect(f"tcp://127.0.0.1:{port}")
        session = Session(key=b"secret")
        shell = AsyncZMQSocketChannel(client, session)
        widget = widget_class("comm-1", {"outputs": []}, SimpleNamespace(session=session, shell_channel=shell), None)
        widget.parent_header = {}
        try:
            session.send(client, "execute_request", {"code": "explorer = ..."})
            identity = kernel.recv_multipart()[0]
            waiting = asyncio.ensure_future(shell.get_msg(timeout=wait_s))
            await asyncio.sleep(0.1)  # the client now waits for the reply
            session.send(kernel, "execute_reply", {"status": "ok"}, ident=identity)
            time.sleep(0.1)  # the reply arrives while the event loop is busy (here: asleep)
            widget.sync_state()  # the stand-in sends a comm message on the same socket
            start = time.perf_counter()
            reply = await waiting
            seconds = time.perf_counter() - start
            assert reply["msg_type"] == "execute_reply"
            _, frames = session.feed_identities(kernel.recv_multipart()[1:])
            comm = session.deserialize(frames)  # the kernel can read (and verify) the comm message
            assert comm["msg_type"] == "comm_msg" and comm["content"]["comm_id"] == "comm-1"
            return seconds
        finally:
            client.close(linger=0)
            kernel.close(linger=0)

    return asyncio.run(scenario())


def test_output_widget_messages_do_not_hide_the_execute_reply():
    """nbclient's own Output-widget stand-in consumes the reply's wake-up: the client sees it only when its
    wait times out (this is what made 02's explorer cell last exactly its 300 s timeout in CI). nbkit's
    stand-in sends through pyzmq's asyncio API, and the reply is seen at once."""
    from nbclient.output_widget import OutputWidget

    assert _seconds_to_see_a_reply(OutputWidget, wait_s=2.0) > 1.5, "control: nbclient's stand-in misses the reply"
    assert _seconds_to_see_a_reply(execute.output_widget_class(), wait_s=2.0) < 0.5


def test_executions_use_the_fixed_output_widget(tmp_path, monkeypatch):
    """execute.execute runs notebooks with that stand-in, and the kernel still receives what the widget shows."""
    widget_class = execute.output_widget_class()
    sent = []
    original = widget_class._publish_msg
    monkeypatch.setattr(widget_class, "_publish_msg",
                        lambda self, *args, **kwargs: (sent.append(args[0]), original(self, *args, **kwargs)))
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import ipywidgets as widgets\nfrom IPython.display import display\n"
                                  "out = widgets.Output()\nwith out:\n    print('drawn in the widget')\ndisplay(out)"),
        nbformat.v4.new_code_cell("print([o.get('text') for o in out.outputs])"),
    ])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "widget.ipynb"
    nbformat.write(nb, str(path))
    executed = execute.execute(path, tmp_path / "executed.ipynb", timeout=60)
    assert sent and set(sent) == {"comm_msg"}
    assert executed.cells[-1].outputs[0]["text"] == "['drawn in the widget\\n']\n"


def test_command_line_executes_and_reports_each_notebook(tmp_path):
    """python -m tools.execute runs every notebook it is given with the parameters given, and names the cell
    that failed."""
    def notebook(name, code):
        parameters = nbformat.v4.new_code_cell("EPOCHS = None", metadata={"tags": ["parameters"]})
        nb = nbformat.v4.new_notebook(cells=[parameters, nbformat.v4.new_code_cell(code)])
        nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, str(tmp_path / name))
        return str(tmp_path / name)

    good = notebook("good.ipynb", "print('epochs:', EPOCHS * 2)")
    bad = notebook("bad.ipynb", "1 / 0")
    command = [sys.executable, "-m", "tools.execute", bad, good, "-p", "EPOCHS", "3", "--out", str(tmp_path / "out")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bad.ipynb: FAILED at cell 2 (1 / 0): ZeroDivisionError: division by zero" in done.stdout
    assert "good.ipynb: ran in" in done.stdout
    assert "epochs: 6" in nbkit.read(tmp_path / "out" / "good.ipynb").cells[-1].outputs[0]["text"]
    missing = subprocess.run([sys.executable, "-m", "tools.execute", str(tmp_path / "nope.ipynb")], cwd=REPO,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no such notebook" in missing.stderr


def test_slowest_cells_say_where_the_time_went():
    cells = [nbformat.v4.new_code_cell("RUN_MODE = None"), nbformat.v4.new_code_cell("RUN_MODE = 'smoke'"),
             nbformat.v4.new_markdown_cell("text"), nbformat.v4.new_code_cell("\nexplorer = make()"),
             nbformat.v4.new_code_cell("fit()")]
    cells[1].metadata["tags"] = ["injected-parameters"]
    for cell, seconds in zip(cells, (0.1, 0.0, None, 300.0, 2.5), strict=True):
        if seconds is not None:
            cell.metadata["papermill"] = {"duration": seconds}
    nb = nbformat.v4.new_notebook(cells=cells)
    assert execute.slowest_cells(nb, 2) == "cell 3 (explorer = make()) 300.0 s, cell 4 (fit()) 2.5 s"
    assert execute.slowest_cells(nbformat.v4.new_notebook()) == "no cell timings"
