"""Every notebook in notebooks/: hygiene checks, then executed headless in smoke mode with papermill.

New notebooks are picked up automatically. Executed copies and their figures are kept in
artifacts/ (git-ignored) for inspection; the results table each notebook ends with
(``course_utils.show_results``) is read back and checked, and every cell marked
``# NBVAL_CHECK_OUTPUT`` must print exactly what its committed output shows (nbval's marker; one
execution checks both, which keeps CI within its time). These checks are ``nbkit.smoke_problems``:
in a whole test run the Colab rehearsal (tests/test_rehearsals.py) is each notebook's smoke run and
makes them, and the plain run here is deselected (tests/conftest.py).

The Korean notebooks (notebooks/ko/) have exactly the English code cells (tests/test_translations.py),
so only KOREAN_SMOKE of them are executed here: enough to show that a generated notebook runs from
notebooks/ko/, without doubling CI's time.
"""
from __future__ import annotations

import json
import subprocess
import sys
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
    # outputs: none (# NBVAL_CHECK_OUTPUT cells aside) or one complete, fresh run (tests/test_recorded_outputs.py)
    assert "Exercises" in "".join(nbkit.source(c) for c in nbkit.markdown_cells(nb))


@pytest.mark.parametrize("path", NOTEBOOKS + KOREAN, ids=IDS + [f"ko-{stem}" for stem in KOREAN_SMOKE])
def test_notebook_runs_in_smoke_mode(path):
    """The plain smoke run, in this checkout's environment. When the Colab rehearsal of the same notebook is
    also selected (a full ``python -m pytest``), this run is deselected: the rehearsal's run is a smoke run
    too and gets the same checks (tests/conftest.py), so each notebook is executed once in smoke mode."""
    name = f"ko_{path.stem}" if path.parent.name == "ko" else path.stem
    start = time.perf_counter()
    # SHOW_SOLUTIONS: the exercise solutions, hidden on a student's Run All, run here.
    nb = nbkit.execute(path, ARTIFACTS / "executed" / f"{name}.ipynb", {"RUN_MODE": "smoke", "SHOW_SOLUTIONS": True},
                       timeout=nbkit.TEST_CELL_TIMEOUT_S)
    seconds = time.perf_counter() - start
    nbkit.record(ARTIFACTS / "smoke_seconds.json", (name,), round(seconds, 1))
    nbkit.save_figures(nb, ARTIFACTS / "figures", name)
    problems = nbkit.smoke_problems(nbkit.read(path), nb)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)
    assert seconds < SMOKE_BUDGET_S, f"smoke run took {seconds:.0f} s (target 90 s); slowest: {nbkit.slowest_cells(nb)}"


def test_same_seed_same_smoke_numbers(tmp_path):
    """Notebook 07 (seeded augmentation on the device, shuffling, a one-cycle schedule; one of the quickest
    training notebooks) run twice in smoke mode on the CPU: identical losses and accuracies."""
    path = REPO / "notebooks" / "07_resnet.ipynb"
    runs = []
    for attempt in (1, 2):
        results = nbkit.results(nbkit.execute(path, tmp_path / f"run{attempt}_{path.name}", {"RUN_MODE": "smoke"},
                                              timeout=nbkit.TEST_CELL_TIMEOUT_S))
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
    # the same text cut into two chunks of stdout (as a busy kernel sends it) is the same output
    executed.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text) for text in ("4", "2\n")]
    assert nbkit.checked_output_mismatches(committed, executed) == []
    executed.cells[0].outputs.insert(1, nbformat.v4.new_output("stream", name="stderr", text="warning\n"))
    assert len(nbkit.checked_output_mismatches(committed, executed)) == 1, "stderr between the chunks is a change"
    executed.cells = executed.cells[1:]
    assert nbkit.checked_output_mismatches(committed, executed) == ["cell 0 (id answer) was not executed"]



def test_a_failed_smoke_run_is_reported():
    """nbkit.smoke_problems can fail: no figure, an accuracy at chance, a run in the wrong mode, no results."""
    import nbformat

    def executed(results, png=True):
        cell = nbformat.v4.new_code_cell("cu.show_results(...)", id="end")
        cell.outputs = [nbformat.v4.new_output("display_data", data={RESULTS_MIMETYPE: results})]
        if png:
            cell.outputs.append(nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="}))
        return nbformat.v4.new_notebook(cells=[cell])

    committed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("cu.show_results(...)", id="end")])
    good = {"run_mode": "smoke", "chance_accuracy": 0.1, "test_accuracy": 0.3}
    assert nbkit.smoke_problems(committed, executed(good)) == []
    [problem] = nbkit.smoke_problems(committed, executed({**good, "test_accuracy": 0.1}))
    assert "test_accuracy=0.1 is not above chance (0.1)" in problem
    [problem] = nbkit.smoke_problems(committed, executed({**good, "run_mode": "fast"}))
    assert "expected 'smoke'" in problem
    [problem] = nbkit.smoke_problems(committed, executed({"run_mode": "smoke", "val_accuracy": 0.5}))
    assert "without chance_accuracy" in problem
    assert nbkit.smoke_problems(committed, executed({}, png=False)) == [
        "every notebook should draw at least one figure", "the notebook must end with course_utils.show_results({...})"]


def _collect(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             "tests/test_notebooks.py", "tests/test_rehearsals.py", *args],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _collected(process: subprocess.Popen) -> list[str]:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, out[-2000:] + err[-2000:]
    return [line for line in out.splitlines() if "::" in line]


def test_every_notebook_gets_one_smoke_run():
    """A full test run executes each notebook once in smoke mode (on the Colab rehearsal, which makes the smoke
    checks); without the rehearsals (-m "not rehearsal") the plain smoke run of every notebook comes back."""
    full, without = map(_collected, [_collect(), _collect("-m", "not rehearsal")])  # both at once
    for path in NOTEBOOKS:
        plain = f"tests/test_notebooks.py::test_notebook_runs_in_smoke_mode[{path.stem}]"
        colab = f"tests/test_rehearsals.py::test_notebook_runs_alone_as_on_colab[{path.stem}]"
        assert (plain in full, colab in full) == (False, True), f"{path.stem}: one smoke run, on the Colab rehearsal"
        assert (plain in without, colab in without) == (True, False), f"{path.stem}: the plain smoke run"
    for stem in KOREAN_SMOKE:
        assert f"tests/test_notebooks.py::test_notebook_runs_in_smoke_mode[ko-{stem}]" in full


def test_records_from_parallel_test_processes_are_all_kept(tmp_path):
    """Under pytest -n 2 two workers record notebook times into one JSON file: nbkit.record keeps every entry."""
    timings = tmp_path / "seconds.json"
    code = ("import sys\nfrom tools import nbkit\n"
            "for i in range(200):\n    nbkit.record(sys.argv[1], ('runs', f'{sys.argv[2]}-{i}'), i)")
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
    assert _seconds_to_see_a_reply(nbkit.output_widget_class(), wait_s=2.0) < 0.5


def test_executions_use_the_fixed_output_widget(tmp_path, monkeypatch):
    """nbkit.execute runs notebooks with that stand-in, and the kernel still receives what the widget shows."""
    widget_class = nbkit.output_widget_class()
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
    executed = nbkit.execute(path, tmp_path / "executed.ipynb", timeout=60)
    assert sent and set(sent) == {"comm_msg"}
    assert executed.cells[-1].outputs[0]["text"] == "['drawn in the widget\\n']\n"


def test_command_line_executes_and_reports_each_notebook(tmp_path):
    """python -m tools.nbkit runs every notebook it is given with the parameters given, and names the cell
    that failed."""
    def notebook(name, code):
        parameters = nbformat.v4.new_code_cell("EPOCHS = None", metadata={"tags": ["parameters"]})
        nb = nbformat.v4.new_notebook(cells=[parameters, nbformat.v4.new_code_cell(code)])
        nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, str(tmp_path / name))
        return str(tmp_path / name)

    good = notebook("good.ipynb", "print('epochs:', EPOCHS * 2)")
    bad = notebook("bad.ipynb", "1 / 0")
    command = [sys.executable, "-m", "tools.nbkit", bad, good, "-p", "EPOCHS", "3", "--out", str(tmp_path / "out")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bad.ipynb: FAILED at cell 2 (1 / 0): ZeroDivisionError: division by zero" in done.stdout
    assert "good.ipynb: ran in" in done.stdout
    assert "epochs: 6" in nbkit.read(tmp_path / "out" / "good.ipynb").cells[-1].outputs[0]["text"]
    missing = subprocess.run([sys.executable, "-m", "tools.nbkit", str(tmp_path / "nope.ipynb")], cwd=REPO,
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
    assert nbkit.slowest_cells(nb, 2) == "cell 3 (explorer = make()) 300.0 s, cell 4 (fit()) 2.5 s"
    assert nbkit.slowest_cells(nbformat.v4.new_notebook()) == "no cell timings"
