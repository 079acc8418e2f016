"""The measurement records in benchmarks/results/, read and written in one place.

``benchmarks/notebook_resources.py`` writes ``notebook_resources_<mode>.json`` (one entry per notebook: status,
seconds, peak memory, the results it reported, the hardware, the hash of its code); :func:`measurements` reads
one such file and :func:`measured` one notebook's successful entry, which is all that the runtime lines, the
README tables, the GPU targets and the recorded-outputs check use. :func:`record` sets one value in a JSON
file that several processes write at once (pytest-xdist workers recording notebook times), under
:func:`locked`, which also serializes the Colab rehearsal's environment builds.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

from tools.paths import RESULTS_DIR


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


def measured(stem: str, mode: str, results_dir: Path = RESULTS_DIR) -> dict | None:
    """The successful measurement of notebook ``stem`` in ``mode``, or None."""
    entry = (measurements(mode, results_dir).get("notebooks") or {}).get(stem)
    return entry if entry and entry.get("status") == "ok" and entry.get("seconds") is not None else None
