"""Regenerate README's course table and measured-results table from the notebooks themselves.

    python tools/readme_table.py           # rewrite the tables between the markers in README.md
    python tools/readme_table.py --check   # exit 1 if README.md is out of date (a test runs this)

Course table (between ``<!-- course-table -->`` and ``<!-- /course-table -->``), one row per
``notebooks/NN_*.ipynb``, read from each notebook's first (markdown) cell:

- number and title: the line ``# NN · Title``;
- what you learn: a ``<!-- summary: ... -->`` comment if the cell has one, else the first bullet of
  **You will learn**;
- runtimes: the line ``**Runtime** (measured): smoke ~S, fast ~F on a <CPU>; full ~G on <GPU>.``
  (``benchmarks/notebook_resources.py --update-headers`` writes the numbers it measured there);
- Colab and Binder badges: built by tools/sync_notebooks.py from pyproject.toml.

Measured-results table (between ``<!-- results-table -->`` and ``<!-- /results-table -->``): the
accuracies each notebook reported (``course_utils.show_results``) in
benchmarks/results/notebook_resources_{fast,full}.json, or "pending" where no run was recorded.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sync_notebooks  # noqa: E402  (tools/ is not a package)

REPO = sync_notebooks.REPO
README = REPO / "README.md"
RESULTS_DIR = REPO / "benchmarks" / "results"
TITLE = re.compile(r"^# (\d\d) · (.+)$", re.M)
SUMMARY = re.compile(r"<!--\s*summary:\s*(.*?)\s*-->", re.S)
RUNTIME_LINE = re.compile(r"^\*\*Runtime\*\* \(measured\):[ \t]*(.*)$", re.M)
SMOKE = re.compile(r"\bsmoke ~([^,;]+)")
FAST = re.compile(r"\bfast ~(.+?) on (?:an? )?([^,;]+)")
FULL = re.compile(r"\bfull ~(.+?) on (?:an? )?([^,;]+?)\.?$")


def notebooks() -> list[Path]:
    return sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def header_source(path: Path) -> str:
    return sync_notebooks._source(nbformat.read(path, as_version=4).cells[0])


def parse_runtime(header: str) -> dict:
    """The parts of the ``**Runtime** (measured):`` line: smoke, fast, cpu, full, gpu, note.

    ``note`` is what follows the ``;`` when no full-mode time is given (e.g. "no GPU needed").
    Missing parts are None.
    """
    match = RUNTIME_LINE.search(header)
    parts = dict.fromkeys(["smoke", "fast", "cpu", "full", "gpu", "note"])
    if not match:
        return parts
    body = match.group(1).strip()
    if m := SMOKE.search(body):
        parts["smoke"] = m.group(1).strip()
    if m := FAST.search(body):
        parts["fast"], parts["cpu"] = m.group(1).strip(), m.group(2).strip()
    tail = body.split(";", 1)[1].strip() if ";" in body else ""
    if m := FULL.search(tail):
        parts["full"], parts["gpu"] = m.group(1).strip(), m.group(2).strip()
    elif tail:
        parts["note"] = tail.rstrip(".")
    return parts


def format_runtime(parts: dict) -> str:
    """The ``**Runtime** (measured):`` line for ``parts`` (inverse of :func:`parse_runtime`)."""
    smoke = f"smoke ~{parts['smoke']}" if parts.get("smoke") else "smoke not measured yet"
    fast = (f"fast ~{parts['fast']} on a {parts.get('cpu') or 'CPU'}" if parts.get("fast")
            else "fast not measured yet")
    if parts.get("full"):
        full = f"full ~{parts['full']} on {parts.get('gpu') or 'a GPU'}"
    else:
        full = parts.get("note") or "full (GPU) not measured yet"
    return f"**Runtime** (measured): {smoke}, {fast}; {full}."


def notebook_info(path: Path) -> dict:
    header = header_source(path)
    title = TITLE.search(header)
    if not title:
        raise SystemExit(f"{path.name}: the first cell must start with a title line '# NN · Title'")
    summary = SUMMARY.search(header)
    if summary:
        learn = " ".join(summary.group(1).split())
    else:
        bullets = re.findall(r"^- (.+)$", header.split("**You will learn**", 1)[-1], re.M)
        learn = bullets[0].rstrip(";.") if bullets else ""
    return {"number": title.group(1), "title": title.group(2).strip(), "learn": learn,
            "runtime": parse_runtime(header), "path": path}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def course_table() -> str:
    rows = ["| # | notebook | you learn | fast mode (CPU) | full mode (GPU) | open in |",
            "| --- | --- | --- | --- | --- | --- |"]
    for path in notebooks():
        info = notebook_info(path)
        rt = info["runtime"]
        fast = f"~{rt['fast']} ({rt['cpu']})" if rt["fast"] else "not measured yet"
        if rt["full"]:
            full = f"~{rt['full']} ({rt['gpu']})"
        elif rt["note"] and "not measured" not in rt["note"]:
            full = rt["note"]  # e.g. "no GPU needed"
        else:
            full = "pending a GPU run"
        launch = (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                  f"({sync_notebooks.colab_url(path.name)}) "
                  f"[![Binder](https://mybinder.org/badge_logo.svg)]({sync_notebooks.binder_url(path.name)})")
        rows.append(f"| {info['number']} | [{_cell(info['title'])}](notebooks/{path.name}) | "
                    f"{_cell(info['learn'])} | {fast} | {full} | {launch} |")
    return "\n".join(rows)


def load_results(mode: str) -> dict:
    path = RESULTS_DIR / f"notebook_resources_{mode}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _measured(entry: dict) -> str:
    """Accuracies the notebook reported, its runtime and peak memory, from one results entry."""
    results = entry.get("results") or {}
    shown = [f"{key.removesuffix('accuracy').rstrip('_').replace('_', ' ') or 'accuracy'} {100 * value:.1f}%"
             for key, value in results.items()
             if key.endswith("accuracy") and key != "chance_accuracy" and isinstance(value, (int, float))]
    cost = [f"{entry['runtime']}"] if entry.get("runtime") else []
    if entry.get("peak_rss_mib"):
        cost.append(f"peak RAM {entry['peak_rss_mib'] / 1024:.1f} GB")
    if entry.get("gpu_peak_mib"):
        cost.append(f"peak GPU memory {entry['gpu_peak_mib'] / 1024:.1f} GB")
    return "; ".join(filter(None, [", ".join(shown), ", ".join(cost)]))


def _hardware(data: dict) -> str:
    hw = data.get("hardware") or {}
    parts = [hw.get("gpu") or f"{hw.get('cpu_count', '?')}-core CPU", hw.get("platform"),
             f"torch {hw['torch']}" if hw.get("torch") else None]
    return ", ".join(p for p in parts if p)


def results_table() -> str:
    fast, full = load_results("fast"), load_results("full")
    rows = ["| # | notebook | fast mode (CPU): accuracy; time, memory | full mode (GPU): accuracy; time, memory |",
            "| --- | --- | --- | --- |"]
    for path in notebooks():
        info = notebook_info(path)
        cells = []
        for data, pending in ((fast, "pending a fast-mode run"), (full, "pending a GPU run")):
            entry = (data.get("notebooks") or {}).get(path.stem)
            ok = entry and entry.get("status") == "ok"
            cells.append(_measured(entry) if ok else pending)
        rows.append(f"| {info['number']} | {_cell(info['title'])} | {cells[0]} | {cells[1]} |")
    notes = []
    for mode, data in (("fast", fast), ("full", full)):
        if data:
            notes.append(f"{mode} mode measured on {_hardware(data)} "
                         f"(benchmarks/results/notebook_resources_{mode}.json).")
        else:
            notes.append(f"{mode} mode: no recorded run yet (benchmarks/results/notebook_resources_{mode}.json).")
    return "\n".join(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes)


def render(readme: str) -> str:
    for name, table in (("course-table", course_table), ("results-table", results_table)):
        start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if not pattern.search(readme):
            raise SystemExit(f"README.md needs the markers {start} ... {end}")
        replacement = f"{start}\n{table()}\n{end}"
        readme = pattern.sub(lambda _, text=replacement: text, readme)  # a function: no backslash escapes
    return readme


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    args = parser.parse_args(argv)
    current = README.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print("README.md is out of date: run python tools/readme_table.py")
            return 1
        return 0
    if wanted != current:
        README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
