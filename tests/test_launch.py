"""Every notebook can be launched: Colab setup cell, README course table with Colab/Binder links, Binder config.

New notebooks (notebooks/NN_*.ipynb) are picked up automatically.
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
import tomllib
import types
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
BINDER_MEMORY_MIB = 2048  # mybinder.org's memory limit
_REAL_FIND_SPEC = importlib.util.find_spec


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


sync_notebooks = _load_tool("sync_notebooks")
readme_table = _load_tool("readme_table")
_spec = importlib.util.spec_from_file_location("notebook_resources", REPO / "benchmarks" / "notebook_resources.py")
notebook_resources = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(notebook_resources)


def _source(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def _pip_spec(setup_source: str) -> str:
    """The requirement installed by the setup cell's ``%pip install ... "spec"`` line."""
    lines = [line.strip() for line in setup_source.splitlines() if line.strip().startswith("%pip install")]
    assert len(lines) == 1, "the setup cell should have exactly one %pip install line"
    quoted = re.findall(r'"([^"]+)"', lines[0])
    assert len(quoted) == 1, f"expected one quoted requirement in {lines[0]!r}"
    return quoted[0]


def _run_setup_cell(source: str, monkeypatch, on_colab: bool, course_utils_importable: bool) -> list:
    """Execute the setup cell's code (IPython magics translated) with a fake ``get_ipython``; return pip calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(source)
    calls = []

    class FakeShell:
        def run_line_magic(self, name, line):
            calls.append((name, line))

    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    def find_spec(name, *args, **kwargs):
        if name == "course_utils" and not course_utils_importable:
            return None
        return _REAL_FIND_SPEC(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    exec(compile(code, "<colab setup cell>", "exec"), {"get_ipython": FakeShell, "__name__": "__main__"})
    return calls


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ should hold the numbered course notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_setup_cell_right_after_title_and_as_generated(path):
    nb = nbformat.read(path, as_version=4)
    setup = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and _source(c).startswith(sync_notebooks.SETUP_MARKER)]
    assert setup == [1], (f"expected exactly one '{sync_notebooks.SETUP_MARKER}' code cell, as the second cell "
                          f"(right after the title); found at {setup}")
    assert _source(nb.cells[1]) == sync_notebooks.setup_cell_source(), \
        "setup cell differs from tools/sync_notebooks.py's: run python tools/sync_notebooks.py"
    assert not nb.cells[1].outputs


def test_setup_cell_installs_course_utils_only():
    spec = _pip_spec(sync_notebooks.setup_cell_source())
    requirement = Requirement(spec)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert requirement.name == project["name"] == "course_utils"
    slug, ref = sync_notebooks.repository()
    assert requirement.url == f"git+https://github.com/{slug}@{ref}"
    assert re.fullmatch(r"git\+https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@[A-Za-z0-9_./-]+",
                        requirement.url), f"malformed VCS URL {requirement.url!r}"
    assert not re.search(r"\btorch(vision)?\b", spec), "the Colab setup cell must not (re)install torch/torchvision"
    pip_line = next(line for line in sync_notebooks.setup_cell_source().splitlines() if "%pip" in line)
    assert not re.search(r"(\s-U\b|--upgrade|--force-reinstall)", pip_line), "never upgrade Colab's packages"
    # course_utils' own dependencies must not force a torch/torchvision reinstall on Colab: lower bounds only.
    for dep in map(Requirement, project["dependencies"]):
        if dep.name in ("torch", "torchvision"):
            assert all(s.operator == ">=" for s in dep.specifier), f"{dep}: use a lower bound only"


def test_setup_cell_does_nothing_off_colab(monkeypatch):
    source = sync_notebooks.setup_cell_source()
    assert _run_setup_cell(source, monkeypatch, on_colab=False, course_utils_importable=False) == []
    assert _run_setup_cell(source, monkeypatch, on_colab=True, course_utils_importable=True) == []


def test_setup_cell_installs_on_colab_when_missing(monkeypatch):
    """Positive control for the test above: the fake Colab does get the pip call."""
    source = sync_notebooks.setup_cell_source()
    calls = _run_setup_cell(source, monkeypatch, on_colab=True, course_utils_importable=False)
    assert len(calls) == 1 and calls[0][0] == "pip"
    assert _pip_spec(source) in calls[0][1]


def test_readme_table_is_up_to_date():
    assert readme_table.main(["--check"]) == 0, "README.md is out of date: run python tools/readme_table.py"


def test_readme_has_colab_and_binder_link_per_notebook():
    readme = (REPO / "README.md").read_text()
    slug, ref = sync_notebooks.repository()
    colab = re.findall(r"https://colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/([^/]+)/([^)\s]+)", readme)
    binder = re.findall(r"https://mybinder\.org/v2/gh/([^/]+/[^/]+)/([^?]+)\?labpath=([^)\s]+)", readme)
    for path in NOTEBOOKS:
        rel = f"notebooks/{path.name}"
        assert (slug, ref, rel) in colab, f"README has no Colab link to {rel} at {slug}@{ref}"
        assert (slug, ref, rel.replace("/", "%2F")) in binder, f"README has no Binder link to {rel}"
    for link_slug, link_ref, rel in colab:
        assert (link_slug, link_ref) == (slug, ref), f"Colab link to {link_slug}@{link_ref}, not {slug}@{ref}"
        assert (REPO / rel).is_file(), f"README's Colab link points at a missing notebook: {rel}"
    for link_slug, link_ref, rel in binder:
        assert (link_slug, link_ref) == (slug, ref)
        assert (REPO / rel.replace("%2F", "/")).is_file(), f"README's Binder link points at a missing notebook: {rel}"


def test_runtime_line_round_trips():
    line = "**Runtime** (measured): smoke ~25 s, fast ~4 min on a 2-core CPU; full ~40 s on NVIDIA H100."
    parts = readme_table.parse_runtime(line)
    assert parts == {"smoke": "25 s", "fast": "4 min", "cpu": "2-core CPU", "full": "40 s",
                     "gpu": "NVIDIA H100", "note": None}
    assert readme_table.format_runtime(parts) == line
    pending = "**Runtime** (measured): smoke ~10 s, fast ~15 s on a 2-core CPU; full (GPU) not measured yet."
    assert readme_table.format_runtime(readme_table.parse_runtime(pending)) == pending


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_header_has_title_and_runtime(path):
    info = readme_table.notebook_info(path)
    assert info["number"] == path.name[:2], "the title's number should match the file name"
    assert info["learn"], "add a '<!-- summary: ... -->' line or 'You will learn' bullets to the first cell"
    assert info["runtime"]["smoke"] and info["runtime"]["fast"], \
        "first cell needs '**Runtime** (measured): smoke ~S, fast ~F on a <CPU>; ...'"


def test_binder_installs_cpu_torch_and_the_course():
    lines = [line.split("#", 1)[0].strip() for line in (REPO / "binder" / "requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines or \
        "--index-url https://download.pytorch.org/whl/cpu" in lines, "Binder must use PyTorch's CPU wheel index"
    reqs = {}
    for line in lines:
        if line.startswith("-"):
            continue
        req = Requirement(line)
        reqs[req.name] = req
    constraints = dict(line.split("==", 1) for line in (REPO / ".ci" / "constraints.txt").read_text().splitlines()
                       if "==" in line and not line.startswith("#"))
    for name in ("torch", "torchvision"):
        pins = [s for s in reqs[name].specifier if s.operator == "=="]
        assert pins and pins[0].version.endswith("+cpu"), f"{name}: pin the CPU build (==X+cpu), not the CUDA one"
        assert pins[0].version.removesuffix("+cpu") == constraints[name], \
            f"binder/requirements.txt pins {name} {pins[0].version}, CI tests {constraints[name]}: keep them in step"
    for name in ("jupyterlab", "ipywidgets"):
        assert name in reqs, f"binder/requirements.txt should install {name}"
    assert "-e ." in lines or "." in lines, "binder/requirements.txt should install course_utils from the repo"


def test_fast_mode_fits_in_binder_memory():
    """mybinder.org gives 2 GB: every notebook measured in fast mode must peak below that."""
    results = REPO / "benchmarks" / "results" / "notebook_resources_fast.json"
    if not results.exists():
        pytest.skip("no fast-mode measurements yet: run python benchmarks/notebook_resources.py --mode fast")
    measured = json.loads(results.read_text()).get("notebooks", {})
    too_big = {name: entry["peak_rss_mib"] for name, entry in measured.items()
               if entry.get("peak_rss_mib") and entry["peak_rss_mib"] >= BINDER_MEMORY_MIB}
    assert not too_big, f"fast mode needs more than Binder's 2 GB (peak MiB): {too_big}"


def test_resources_script_rewrites_only_its_mode(tmp_path):
    from course_utils.results import RESULTS_MIMETYPE

    assert notebook_resources.RESULTS_MIMETYPE == RESULTS_MIMETYPE
    assert [notebook_resources.human_seconds(s) for s in (4.2, 27, 95, 245, 1300)] == \
        ["4 s", "25 s", "1.5 min", "4 min", "22 min"]
    path = tmp_path / NOTEBOOKS[0].name
    path.write_bytes(NOTEBOOKS[0].read_bytes())
    before = readme_table.parse_runtime(readme_table.header_source(path))
    entry = {"runtime": "2 min", "gpu": "NVIDIA H100", "hardware": {"cpu_count": 4}}
    assert notebook_resources.update_header(path, "full", entry)
    after = readme_table.parse_runtime(readme_table.header_source(path))
    assert (after["full"], after["gpu"], after["note"]) == ("2 min", "NVIDIA H100", None)
    assert (after["smoke"], after["fast"], after["cpu"]) == (before["smoke"], before["fast"], before["cpu"])
    assert notebook_resources.update_header(path, "fast", entry)
    assert readme_table.parse_runtime(readme_table.header_source(path))["cpu"] == "4-core CPU"
    nb = nbformat.read(path, as_version=4)
    assert len(nb.cells) == len(nbformat.read(NOTEBOOKS[0], as_version=4).cells)


def test_summary_falls_back_to_first_bullet(tmp_path):
    """Notebooks without a '<!-- summary: ... -->' line still get a 'you learn' entry."""
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    nb.cells[0].source = re.sub(r"<!--\s*summary:.*?-->\n?", "", _source(nb.cells[0]), flags=re.S)
    path = tmp_path / NOTEBOOKS[0].name
    nbformat.write(nb, path)
    bullets = re.findall(r"^- (.+)$", _source(nb.cells[0]), re.M)
    assert readme_table.notebook_info(path)["learn"] == bullets[0].rstrip(";.")
