"""When each notebook was last verified, and with which torch and torchvision: a sentence of its title cell.

Rendered (never typed) from the records in ``benchmarks/results/``:

- ``compatibility.json``: the oldest-versions and newest-versions rehearsals (``python -m tools.rehearse colab
  --versions oldest|newest``), which run every notebook in smoke mode, as on Colab;
- ``notebook_resources_fast.json`` and ``notebook_resources_full.json``: the measured fast-mode (CPU) and
  full-mode (GPU) runs (``python -m benchmarks.notebook_resources``).

For each kind of run the sentence names the run mode, the torch and torchvision versions and the date of the
latest record, and says so where that run failed. A notebook with no record at all gets no sentence.

This module reads JSON files only and imports nothing from ``tools`` but ``paths``: the modules that render
title cells (``sync_notebooks`` in English, ``translate`` in Korean) call it.
"""
from __future__ import annotations

import json
from pathlib import Path

from tools.paths import RESULTS_DIR

COMPATIBILITY = "compatibility.json"
VERSION_SETS = ("oldest", "newest")  # tools.rehearse.VERSION_SETS, in the order the sentence names them


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _versions(packages: dict) -> str | None:
    if not packages.get("torch"):
        return None
    vision = packages.get("torchvision")
    return f"torch {packages['torch']}" + (f" / torchvision {vision}" if vision else "")


def runs(stem: str, results_dir: Path = RESULTS_DIR) -> list[dict]:
    """The latest verification of notebook ``stem`` of each kind: dicts with ``kind`` (``oldest``, ``newest``,
    ``fast``, ``full``), ``mode`` (smoke, fast or full), ``versions`` ("torch X, torchvision Y"), ``date``
    (YYYY-MM-DD), ``ok`` and, for measured runs, ``hardware``. Kinds without a record are left out."""
    results_dir = Path(results_dir)
    found = []
    compatibility = _read(results_dir / COMPATIBILITY)
    for kind in VERSION_SETS:
        run = compatibility.get(kind) or {}
        entry = (run.get("notebooks") or {}).get(stem)
        versions = _versions(run.get("installed") or {})
        if entry and versions:
            found.append({"kind": kind, "mode": run.get("run_mode", "smoke"), "versions": versions,
                          "date": str(entry.get("date") or run.get("date") or "")[:10],
                          "ok": entry.get("outcome") == "ok", "hardware": None})
    for mode in ("fast", "full"):
        entry = (_read(results_dir / f"notebook_resources_{mode}.json").get("notebooks") or {}).get(stem)
        hardware = (entry or {}).get("hardware") or {}
        versions = _versions(hardware)
        if entry and versions:
            machine = entry.get("gpu") or hardware.get("gpu") or f"{hardware.get('cpu_count', '?')}-core CPU"
            found.append({"kind": mode, "mode": mode, "versions": versions,
                          "date": str(entry.get("measured_at") or "")[:10], "ok": entry.get("status") == "ok",
                          "hardware": machine})
    return found


_KIND_EN = {"oldest": "the oldest versions allowed", "newest": "the newest releases"}
_KIND_KO = {"oldest": "허용하는 가장 오래된 버전", "newest": "최신 릴리스"}


def _groups(found: list[dict]) -> list[list[dict]]:
    """Runs of the same mode on the same day (the two version rehearsals), kept in order."""
    groups: list[list[dict]] = []
    for run in found:
        if groups and (groups[-1][0]["mode"], groups[-1][0]["date"]) == (run["mode"], run["date"]):
            groups[-1].append(run)
        else:
            groups.append([run])
    return groups


def _a(machine: str) -> str:
    return f"a {machine}" if machine.endswith("CPU") else machine


def _phrase_en(group: list[dict]) -> str:
    def one(run):
        where = f" ({_KIND_EN[run['kind']]})" if run["kind"] in _KIND_EN else f" on {_a(run['hardware'])}"
        return f"{run['versions']}{where}" + ("" if run["ok"] else " **failed**")

    return f"{group[0]['mode']} mode with " + " and ".join(one(run) for run in group) + f", {group[0]['date']}"


def _phrase_ko(group: list[dict]) -> str:
    def one(run):
        where = _KIND_KO.get(run["kind"]) or (run["hardware"] or "").replace("-core CPU", "코어 CPU")
        return f"{run['versions']}({where})" + ("" if run["ok"] else " **실패**")

    return f"{group[0]['date']} {group[0]['mode']} 모드: " + ", ".join(one(run) for run in group)


def sentence(stem: str, results_dir: Path = RESULTS_DIR) -> str:
    """``**Last verified**: ...`` for notebook ``stem`` (English), or "" when nothing was recorded."""
    groups = _groups(runs(stem, results_dir))
    return f"**Last verified**: {'; '.join(map(_phrase_en, groups))}." if groups else ""


def sentence_ko(stem: str, results_dir: Path = RESULTS_DIR) -> str:
    """:func:`sentence` for the Korean edition: ``**마지막 검증**: ...``."""
    groups = _groups(runs(stem, results_dir))
    return f"**마지막 검증**: {'; '.join(map(_phrase_ko, groups))}." if groups else ""
