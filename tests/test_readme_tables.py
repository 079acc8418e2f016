"""README's results tables: one row per notebook with its headline result (tools/readme_table.py, HEADLINES).

The headline of each notebook is declared once, in ``readme_table.HEADLINES``: a label (English and Korean) and
a template over keys of the results the notebook reports with ``course_utils.show_results``. These tests keep
the declaration and the notebooks in step: every notebook has a headline, its keys are reported by the
notebook's code and present in each of its recorded runs, and the rendered tables show one row per notebook.
"""
from __future__ import annotations

import re
import string

import pytest

from benchmarks.records import measured
from tools import nbkit, readme_table
from tools.paths import NOTEBOOK_DIR, REPO

NOTEBOOKS = nbkit.notebooks()
IDS = [p.stem for p in NOTEBOOKS]
HANGUL = re.compile("[\uac00-\ud7a3]")


def headline_problems(stem: str, code: str, runs: dict[str, dict]) -> list[str]:
    """What is wrong with notebook ``stem``'s headline, given its code (all code cells) and its recorded results by
    mode: no headline, a key its code never reports, a key missing from a recorded run."""
    headline = readme_table.HEADLINES.get(stem)
    if headline is None:
        return [f"{stem} has no headline: add one to HEADLINES in tools/readme_table.py"]
    problems = [f"{stem}: the headline reads {key!r}, which the notebook's code never reports (show_results key)"
                for key in sorted(headline.keys()) if f'"{key}"' not in code]
    for mode, results in runs.items():
        problems += [f"{stem}: the recorded {mode}-mode run reports no {key!r}: change HEADLINES in "
                     f"tools/readme_table.py, or record the notebook again (python -m benchmarks.notebook_resources "
                     f"--mode {mode} --render {stem[:2]})" for key in sorted(headline.keys() - set(results))]
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_notebook_has_a_headline_that_it_reports(path):
    code = "\n".join(nbkit.source(cell) for cell in nbkit.code_cells(nbkit.read(path)))
    runs = {mode: entry["results"] for mode in ("fast", "full") if (entry := measured(path.stem, mode))}
    assert "fast" in runs, f"{path.stem}: no fast-mode record (python -m benchmarks.notebook_resources --mode fast)"
    problems = headline_problems(path.stem, code, runs)
    assert not problems, "\n".join(problems)


def test_no_headline_without_a_notebook():
    assert set(readme_table.HEADLINES) == set(IDS), "HEADLINES in tools/readme_table.py names other notebooks"


def test_the_headline_check_finds_a_missing_key():
    stem = "03_first_cnn"
    code = '"relu_test_accuracy": relu_acc'
    assert headline_problems(stem, code, {"fast": {"relu_test_accuracy": 0.5}}) == []
    [problem] = headline_problems(stem, code, {"fast": {"relu_test_accuracy": 0.5}, "full": {"test_accuracy": 0.6}})
    assert "recorded full-mode run reports no 'relu_test_accuracy'" in problem
    [problem] = headline_problems(stem, "print(relu_acc)", {})
    assert "never reports" in problem
    assert headline_problems("99_new", code, {}) == ["99_new has no headline: add one to HEADLINES in "
                                                     "tools/readme_table.py"]
    assert readme_table.HEADLINES[stem].render({"test_accuracy": 0.6}) == "–", "a missing key is shown as a dash"


@pytest.mark.parametrize("stem", IDS)
def test_both_editions_of_a_headline_read_the_same_results(stem):
    headline = readme_table.HEADLINES[stem]
    korean, english = ({field for _, field, _, _ in string.Formatter().parse(template) if field}
                       for template in (headline.value_ko or headline.value, headline.value))
    assert korean == english, f"{stem}: the Korean value reads {korean}, the English one {english}"
    assert HANGUL.search(headline.label_ko), f"{stem}: label_ko should be Korean"
    assert " vs " not in (headline.value_ko or headline.value), f"{stem}: write 대 for 'vs' in value_ko"


@pytest.mark.parametrize("readme, marker, folder", [("README.md", "results-table", NOTEBOOK_DIR),
                                                    ("README.ko.md", "results-table-ko", NOTEBOOK_DIR / "ko")])
def test_results_table_has_one_row_per_notebook_with_its_headline(readme, marker, folder):
    text = (REPO / readme).read_text(encoding="utf-8")
    table = text.split(f"<!-- {marker} -->", 1)[1].split(f"<!-- /{marker} -->", 1)[0]
    rows = [line for line in table.splitlines() if re.match(r"^\| \d\d \|", line)]
    assert [row[2:4] for row in rows] == [p.name[:2] for p in nbkit.notebooks(folder)]
    korean = readme.endswith(".ko.md")
    for row, path in zip(rows, NOTEBOOKS, strict=True):
        headline = readme_table.HEADLINES[path.stem]
        assert (headline.label_ko if korean else headline.label) in row
        fast = measured(path.stem, "fast")
        assert f"| {headline.render(fast['results'], korean=korean)}; " in row, f"{readme}: {row}"
