"""Notebook 07 quotes the course's own CIFAR-10 speed benchmark: its numbers must be the recorded ones."""
from __future__ import annotations

import json

from tools import nbkit
from tools.paths import REPO

RECORD = REPO / "benchmarks" / "results" / "cifar10_speed.json"


def expected_sentence(record: dict) -> list[str]:
    airbench, course = record["airbench94"], record["course_resnet"]
    return [f"on one {record['device']} on {record['date_utc'][:10]}",
            f"airbench94 reached {100 * airbench['accuracy']:.2f}% (with TTA) in {airbench['train_seconds']:.2f} s",
            f"this notebook's full recipe reached {100 * course['accuracy']:.2f}% (with flip TTA)",
            f"in {course['train_seconds']:.2f} s",
            "so it did not reach airbench94's accuracy" if course["seconds_to_target"] is None
            else "reached airbench94's accuracy"]


def markdown_of_07() -> str:
    """The markdown of notebook 07, with line breaks as spaces."""
    cells = nbkit.markdown_cells(nbkit.read(REPO / "notebooks" / "07_resnet.ipynb"))
    return " ".join(" ".join(nbkit.source(cell).split()) for cell in cells)


def test_notebook_07_quotes_the_recorded_speed_benchmark():
    record = json.loads(RECORD.read_text())
    text = markdown_of_07()
    missing = [part for part in expected_sentence(record) if part not in text]
    assert not missing, (f"notebook 07 should quote {RECORD.name} as recorded; not found: {missing}. Update the "
                         "sentence in the cell that names benchmarks/cifar10_speed.py")


def test_a_changed_record_is_noticed():
    record = json.loads(RECORD.read_text())
    record["airbench94"]["train_seconds"] += 1.0
    text = markdown_of_07()
    assert any(part not in text for part in expected_sentence(record))
