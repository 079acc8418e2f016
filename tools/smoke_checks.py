"""What a notebook's smoke run must show: the course's test policy for notebooks, in one place.

A smoke run (``RUN_MODE = "smoke"``: seconds, tiny subsets) must show learning, not just the absence of errors
(:func:`smoke_problems`), and each code cell marked ``# NBVAL_CHECK_OUTPUT`` must print what its committed output
shows (:func:`checked_output_mismatches`; in the tests, nbval itself compares those cells).

Three runners apply this policy, which is why it lives in tools/ and not in tests/: the tests' nbval plugin
(tools/nbval_colab.py, the "smoke checks" test of each notebook), the version rehearsals
(``python -m tools.rehearse colab --versions oldest|newest``, outside pytest), and output recording
(benchmarks/recorded_outputs.py refuses a run whose checked cells print something else).
"""
from __future__ import annotations

from tools import nbkit


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
        if cell.cell_type != "code" or nbkit.CHECKED_OUTPUT not in nbkit.source(cell):
            continue
        if cell.get("id") not in ran:
            problems.append(f"cell {index} (id {cell.get('id')}) was not executed")
        elif _printed(cell) != _printed(ran[cell.id]):
            problems.append(f"cell {index} (id {cell.id}) printed something else:\n--- committed\n{_printed(cell)}"
                            f"\n--- this run\n{_printed(ran[cell.id])}")
    return problems


def smoke_problems(committed, executed) -> list[str]:
    """What is wrong with a smoke run: ``executed`` is ``committed`` run with ``RUN_MODE="smoke"``.

    At least one figure is drawn, the notebook ends with ``course_utils.show_results`` in smoke mode, and every
    reported accuracy beats the reported chance accuracy. Empty when all hold.
    """
    problems = []
    if not nbkit.figures(executed):
        problems.append("every notebook should draw at least one figure")
    reported = nbkit.results(executed)
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
