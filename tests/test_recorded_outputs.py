"""Recorded outputs (benchmarks/recorded_outputs.py): a real run of a small notebook, cleaned for the repository,
and the checks that the committed notebooks' outputs are complete, fresh and equal to their record."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import nbformat
import pytest

from benchmarks import recorded_outputs
from tools import execute, nbkit, runtimes, translate
from tools.paths import NOTEBOOK_DIR, REPO

STEM = "99_recorded"
CODE = [
    "RUN_MODE = None",
    "from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='fit'):\n    pass\n"
    "for _ in tqdm(range(3), desc='epoch', leave=False):\n    pass",
    "import sys, time, warnings\nfor i in range(3):\n    print(f'\\rstep {i}', end='', file=sys.stderr)\n"
    "print(file=sys.stderr)\n"
    "warnings.warn('CIFAR-10: loading an UNVERIFIED local copy (COURSE_ALLOW_UNVERIFIED_DATA is set).')\n"
    "print('data in', DATA_ROOT, 'and', TMP)",
    "import matplotlib.pyplot as plt\nplt.plot([0, 1, 4, 9]); plt.title('squares'); plt.show()",
    "import course_utils as cu\ncu.show_results({'run_mode': RUN_MODE, 'chance_accuracy': 0.1, 'test_accuracy': 0.5})",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small notebook in course shape, executed for real in fast mode as the recorder does."""
    folder = tmp_path_factory.mktemp("recorded")
    cells = [nbformat.v4.new_markdown_cell("# 99 · Recorded\n\n**Runtime** (measured): smoke ~1 s.", id="title")]
    for index, code in enumerate(CODE):
        cell = nbformat.v4.new_code_cell(code, id=f"code{index}")
        if index == 0:
            cell.metadata["tags"] = ["parameters"]
        cells.append(cell)
    committed = nbformat.v4.new_notebook(cells=cells)
    committed.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"{STEM}.ipynb"
    nbkit.write(committed, path)
    data_root = folder / "data-root"
    parameters = {"RUN_MODE": "fast", "DATA_ROOT": str(data_root), "TMP": str(Path(tempfile.gettempdir()) / "x")}
    executed = execute.execute(path, folder / "executed.ipynb", parameters, timeout=120)
    nb = recorded_outputs.recorded(committed, executed, "fast", data_root=str(data_root))
    return {"committed": committed, "executed": executed, "nb": nb, "folder": folder}


def _record(folder: Path, nb, **changes) -> Path:
    results = folder / "results"
    results.mkdir(exist_ok=True)
    entry = {"status": "ok", "seconds": 3.0, "results": nbkit.results(nb), "code_sha256": nbkit.code_hash(nb),
             "measured_at": "2026-12-01T10:00:00+00:00", "hardware": {"cpu_count": 2}, **changes}
    (results / "notebook_resources_fast.json").write_text(json.dumps({"notebooks": {STEM: entry}}))
    return results


def _texts(nb) -> str:
    return "\n".join(text for _, text in recorded_outputs._texts(nb))


def test_a_run_is_cleaned_for_the_repository(run):
    nb, executed = run["nb"], run["executed"]
    assert any("papermill" in c.metadata for c in executed.cells), "control: the raw run has papermill metadata"
    assert [c.id for c in nb.cells] == [c.id for c in run["committed"].cells], "no injected-parameters cell"
    assert [c.execution_count for c in nbkit.code_cells(nb)] == [1, 2, 3, 4, 5]
    assert all(not {"papermill", "execution"} & set(c.metadata) for c in nb.cells)
    assert "papermill" not in nb.metadata and nb.metadata["course"]["outputs"] == {"mode": "fast"}
    shown = _texts(nb)
    assert "fit: 100%|██████████| 3/3" in shown, shown  # the tqdm widget, as its final state in text
    assert "epoch" not in shown, "a bar closed with leave=False disappears, as in a front end"
    assert "application/vnd.jupyter.widget-view+json" not in json.dumps(nb.cells[2].outputs)
    assert "widgets" not in nb.metadata, "the tqdm widgets' state goes with them"
    assert "step 2\n" in shown and "step 0" not in shown and "\r" not in shown
    assert "UNVERIFIED" not in shown and "UNVERIFIED" in json.dumps(executed.cells[4].outputs)
    assert "data in <data root> and <tmp>/x" in shown
    assert nbkit.figures(nb) and nbkit.results(nb) == nbkit.results(executed)


def test_figures_are_re_encoded_only_when_smaller(run):
    [before], [after] = nbkit.figures(run["executed"]), nbkit.figures(run["nb"])
    assert len(after) < len(before)
    from io import BytesIO

    from PIL import Image

    a, b = Image.open(BytesIO(before)), Image.open(BytesIO(after))
    assert a.size == b.size and b.mode == "P"


def test_a_fresh_recording_has_no_problems(run):
    results = _record(run["folder"], run["nb"])
    assert recorded_outputs.problems(run["nb"], STEM, results) == []
    assert recorded_outputs.problems(recorded_outputs.cleared(run["nb"]), STEM, results) == []


def test_changed_code_makes_the_outputs_stale(run):
    results = _record(run["folder"], run["nb"])
    nb = nbformat.from_dict(json.loads(json.dumps(run["nb"])))
    nb.cells[4].source += "\nprint('one more line')"
    [problem] = recorded_outputs.problems(nb, STEM, results)
    assert f"{STEM}'s outputs are stale" in problem
    assert "python -m benchmarks.notebook_resources --outputs 99" in problem


def test_results_that_differ_from_the_record_are_reported(run):
    results = _record(run["folder"], run["nb"], results={"run_mode": "fast", "test_accuracy": 0.6})
    [problem] = recorded_outputs.problems(run["nb"], STEM, results)
    assert "differ from its record" in problem


@pytest.mark.parametrize("plant, expected", [
    (lambda nb: nb.cells[3].outputs.append(nbformat.v4.new_output("error", ename="ValueError", evalue="x",
                                                                   traceback=[])), "show an error"),
    (lambda nb: nb.cells[3].outputs.append(nbformat.v4.new_output("stream", name="stderr",
                                                                  text=f"{Path.home()}/.cache/x\n")),
     "home folder"),
    (lambda nb: nb.cells[3].outputs.append(nbformat.v4.new_output("stream", name="stderr", text="/tmp/tmpab/x\n")),
     "temporary folder"),
    (lambda nb: nb.cells[3].outputs.append(nbformat.v4.new_output(
        "stream", name="stderr", text="UserWarning: loading an UNVERIFIED local copy\n")), "unverified-data warning"),
    (lambda nb: nb.cells[3].outputs.append(nbformat.v4.new_output("stream", name="stderr", text="10%\r100%\n")),
     "final state"),
    (lambda nb: nb.cells[3].metadata.update(papermill={"duration": 1.0}), "volatile metadata"),
    (lambda nb: nb.cells[5].update(execution_count=None), "were not run"),
    (lambda nb: nb.metadata["course"].pop("outputs"), "were not recorded by"),
])
def test_each_planted_problem_is_reported(run, plant, expected):
    results = _record(run["folder"], run["nb"])
    nb = nbformat.from_dict(json.loads(json.dumps(run["nb"])))
    plant(nb)
    found = recorded_outputs.problems(nb, STEM, results)
    assert any(expected in problem for problem in found), found


def test_a_failed_run_is_never_recorded(run):
    executed = nbformat.from_dict(json.loads(json.dumps(run["executed"])))
    executed.cells[-1].outputs.append(nbformat.v4.new_output("error", ename="RuntimeError", evalue="boom",
                                                             traceback=[]))
    with pytest.raises(recorded_outputs.RecordingError, match="RuntimeError: boom"):
        recorded_outputs.recorded(run["committed"], executed, "fast")


def test_a_checked_output_must_not_depend_on_the_mode(run):
    committed = nbformat.from_dict(json.loads(json.dumps(run["committed"])))
    committed.cells[-1].source = "# NBVAL_CHECK_OUTPUT\n" + committed.cells[-1].source
    committed.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="smoke\n")]
    executed = nbformat.from_dict(json.loads(json.dumps(run["executed"])))
    executed.cells[-1].source = committed.cells[-1].source
    with pytest.raises(recorded_outputs.RecordingError, match="NBVAL_CHECK_OUTPUT"):
        recorded_outputs.recorded(committed, executed, "fast")


def test_the_runtime_lines_name_the_run_the_outputs_come_from(run):
    results = _record(run["folder"], run["nb"])
    english = runtimes.runtime_line(STEM, results, outputs_mode="fast")
    assert english.endswith("The outputs shown are from the fast-mode run on a 2-core CPU on 2026-12-01.")
    korean = runtimes.runtime_line_ko(STEM, results, outputs_mode="fast")
    assert korean.endswith("아래 출력은 2026-12-01에 2코어 CPU에서 fast 모드로 실행한 결과입니다.")
    assert "outputs" not in runtimes.runtime_line(STEM, results)  # a notebook without outputs says nothing


def test_the_korean_edition_carries_the_same_outputs(run, tmp_path, monkeypatch):
    """tools/translate.py copies the code cells with their outputs and the widget state, and its title cell names
    the same run in Korean."""
    nb = nbformat.from_dict(json.loads(json.dumps(run["nb"])))
    nb.cells[0].source = "# 99 · Recorded\n\n<!-- badges -->\n<!-- /badges -->\n\n**Runtime** (measured): ..."
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    english = tmp_path / f"{STEM}.ipynb"
    nbkit.write(nb, english)
    translations = tmp_path / "ko"
    translations.mkdir()
    block = f"<!-- cell title en:{translate.english_key(nb.cells[0].source)} -->\n# 99 · 기록\n\n<!-- runtime -->\n"
    (translations / f"{STEM}.md").write_text(block, encoding="utf-8")
    monkeypatch.setattr(translate, "TRANSLATIONS", translations)
    results = _record(run["folder"], run["nb"])
    monkeypatch.setattr(runtimes, "measured",
                        lambda stem, mode, results_dir=results, real=runtimes.measured: real(stem, mode, results))
    korean = translate.build(english)
    assert [c.get("outputs") for c in nbkit.code_cells(korean)] == [c.outputs for c in nbkit.code_cells(nb)]
    assert korean.metadata["widgets"] == nb.metadata["widgets"]
    assert korean.metadata["course"]["outputs"] == {"mode": "fast"}
    assert "아래 출력은 2026-12-01에 2코어 CPU에서 fast 모드로" in korean.cells[0].source


@pytest.mark.parametrize("path", nbkit.all_notebooks(), ids=lambda p: str(p.relative_to(NOTEBOOK_DIR)))
def test_committed_outputs_are_none_or_a_complete_fresh_run(path):
    """Each notebook (both editions) carries no outputs (its # NBVAL_CHECK_OUTPUT cells aside) or those of one
    complete run that matches its record in benchmarks/results: same code, same results, no error."""
    problems = recorded_outputs.problems(nbkit.read(path), path.stem)
    assert not problems, f"{path.relative_to(REPO)}:\n" + "\n".join(problems)


def test_outputs_come_from_full_mode_only_for_the_code_a_gpu_run_measured(tmp_path):
    """A GPU record of older code (the notebook changed since) does not keep the notebook without outputs: until a
    GPU run of the current code exists, its outputs come from fast mode."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", id="a")])
    path = tmp_path / f"{STEM}.ipynb"
    nbkit.write(nb, path)
    results = tmp_path / "results"
    results.mkdir()

    def full_record(**entry):
        record = {"status": "ok", "seconds": 30.0, "hardware": {"gpu": "NVIDIA H200"}, **entry}
        (results / "notebook_resources_full.json").write_text(json.dumps({"notebooks": {STEM: record}}))

    assert recorded_outputs.recording_mode(STEM, results, tmp_path) == "fast"  # no GPU record at all
    full_record(code_sha256=nbkit.code_hash(nb))
    assert recorded_outputs.recording_mode(STEM, results, tmp_path) == "full"
    full_record(code_sha256="older code")
    assert recorded_outputs.recording_mode(STEM, results, tmp_path) == "fast"
    full_record()  # a record from before code hashes were kept
    assert recorded_outputs.recording_mode(STEM, results, tmp_path) == "fast"
