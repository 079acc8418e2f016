"""How long a notebook takes, in words: the runtime line of each title cell, in English and in Korean.

Runtimes are measured (``python -m benchmarks.notebook_resources``), recorded in
``benchmarks/results/notebook_resources_<mode>.json`` and rendered from there by ``python -m
tools.sync_notebooks``: never written by hand, never parsed back out of prose. The title cell of each English
notebook holds a line that starts with ``**Runtime** (measured):`` (:data:`RUNTIME_LINE`), replaced by
:func:`runtime_line`; each Korean title cell gets :func:`runtime_line_ko` from the same measurements
(tools/translate.py puts it where the translation has ``<!-- runtime -->``). README's tables use the same
wording (:func:`human_seconds`, :func:`hardware_name` and their Korean twins).
"""
from __future__ import annotations

import re
from pathlib import Path

from benchmarks.records import measured
from tools.paths import RESULTS_DIR

RUNTIME_LINE = re.compile(r"^\*\*Runtime\*\* \(measured\):.*$", re.M)  # where the rendered line goes


def human_seconds(seconds: float) -> str:
    """Rounded for a reader: '8 s', '25 s', '1.5 min', '12 min'."""
    if seconds < 10:
        return f"{max(1, round(seconds))} s"
    if seconds < 60:
        return f"{5 * round(seconds / 5)} s"
    if seconds < 600:
        minutes = round(seconds / 30) / 2
        return f"{minutes:g} min"
    return f"{round(seconds / 60)} min"


def hardware_name(entry: dict) -> str:
    """The machine of one measurement: the GPU's name, else ``N-core CPU``."""
    hw = entry.get("hardware") or {}
    return entry.get("gpu") or hw.get("gpu") or f"{hw.get('cpu_count', '?')}-core CPU"


def runtime_cell(entry: dict) -> str:
    """One measurement in a few characters, e.g. ``~2 min (2-core CPU)`` (README's course table)."""
    return f"~{human_seconds(entry['seconds'])} ({hardware_name(entry)})"


def date(entry: dict) -> str:
    """The day a measurement was made (``measured_at``, ISO 8601), e.g. ``2026-11-26``."""
    return str(entry.get("measured_at") or "an unrecorded date")[:10]


def _article(name: str) -> str:
    return f"a {name}" if name.endswith("CPU") else name


def runtime_line(stem: str, results_dir: Path = RESULTS_DIR, outputs_mode: str | None = None) -> str:
    """The ``**Runtime** (measured):`` line of notebook ``stem``'s first cell. ``outputs_mode``: the mode of the
    run whose outputs the notebook carries (benchmarks/recorded_outputs.py), which the line then names."""
    smoke, fast, full = (measured(stem, mode, results_dir) for mode in ("smoke", "fast", "full"))
    parts = [f"smoke ~{human_seconds(smoke['seconds'])}" if smoke else "smoke not measured yet",
             f"fast ~{human_seconds(fast['seconds'])} on a {hardware_name(fast)}" if fast
             else "fast not measured yet"]
    full_text = (f"full ~{human_seconds(full['seconds'])} on {_article(hardware_name(full))}" if full
                 else "full (GPU) not measured yet")
    line = f"**Runtime** (measured): {', '.join(parts)}; {full_text}."
    run = measured(stem, outputs_mode, results_dir) if outputs_mode else None
    if run:
        line += (f" The outputs shown are from the {outputs_mode}-mode run on {_article(hardware_name(run))} "
                 f"on {date(run)}.")
    return line


# -- the Korean edition's phrasing --------------------------------------------------------------------
# tests/test_translations.py fails if the English phrasing above appears in the Korean edition.

def human_seconds_ko(seconds: float) -> str:
    """:func:`human_seconds` in Korean: '8초', '25초', '1.5분', '12분'."""
    number, unit = human_seconds(seconds).split()
    return number + {"s": "초", "min": "분"}[unit]


def hardware_name_ko(entry: dict) -> str:
    """The machine of one measurement: the GPU's name, else ``N코어 CPU``."""
    hw = entry.get("hardware") or {}
    return entry.get("gpu") or hw.get("gpu") or f"{hw.get('cpu_count', '?')}코어 CPU"


def runtime_cell_ko(entry: dict) -> str:
    """:func:`runtime_cell` in Korean, e.g. ``약 2분(2코어 CPU)``."""
    return f"약 {human_seconds_ko(entry['seconds'])}({hardware_name_ko(entry)})"


def runtime_line_ko(stem: str, results_dir: Path = RESULTS_DIR, outputs_mode: str | None = None) -> str:
    """The runtime line of the Korean notebook ``stem``'s title cell, from the same measurements as
    :func:`runtime_line` (and, as there, the run whose outputs the notebook shows)."""
    smoke, fast, full = (measured(stem, mode, results_dir) for mode in ("smoke", "fast", "full"))
    parts = [f"smoke 모드 약 {human_seconds_ko(smoke['seconds'])}" if smoke else "smoke 모드 측정 전",
             f"fast 모드 {runtime_cell_ko(fast)}" if fast else "fast 모드 측정 전",
             f"full 모드 {runtime_cell_ko(full)}" if full else "full 모드(GPU) 측정 전"]
    line = f"**실행 시간(측정값)**: {', '.join(parts)}"
    run = measured(stem, outputs_mode, results_dir) if outputs_mode else None
    if run:
        line += (f". 아래 출력은 {date(run)}에 {hardware_name_ko(run)}에서 {outputs_mode} 모드로 실행한 "
                 "결과입니다.")
    return line
