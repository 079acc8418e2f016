"""Every notebook can be launched: Colab setup cell, declared imports, README course table with Colab/Binder
links that follow the configured repository (and an instructor's fork), rendered runtimes, Binder config.

New notebooks (notebooks/NN_*.ipynb, and editions such as notebooks/ko/) are picked up automatically.
The rehearsals that execute the notebooks as on Colab and in full mode are in tests/test_rehearsals.py.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import shutil
import sys
import tomllib
import types

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from benchmarks import gpu_targets, notebook_resources, records
from tools import links, nbkit, readme_table, runtimes, sync_notebooks, verified
from tools.paths import NOTEBOOK_DIR, REPO

NOTEBOOKS = nbkit.notebooks()
IDS = [p.stem for p in NOTEBOOKS]
BINDER_MEMORY_MIB = 2048  # mybinder.org's memory limit
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# Modules every notebook may import without a dependency: the IPython kernel that runs it brings them.
KERNEL_MODULES = {"IPython"}
_REAL_FIND_SPEC = importlib.util.find_spec


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


# -- the Colab setup cell ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_setup_cell_right_after_title_and_as_generated(path):
    nb = nbkit.read(path)
    setup = [i for i, c in enumerate(nb.cells) if c in nbkit.setup_cells(nb)]
    assert setup == [1], (f"expected exactly one '{links.SETUP_MARKER}' code cell, as the second cell "
                          f"(right after the title); found at {setup}")
    assert nbkit.source(nb.cells[1]) == links.setup_cell_source(), \
        "setup cell differs from tools/links.py's: run python -m tools.sync_notebooks"
    assert not nb.cells[1].outputs


def test_setup_cell_installs_course_utils_only():
    spec = _pip_spec(links.setup_cell_source())
    requirement = Requirement(spec)
    assert requirement.name == PROJECT["name"] == "course_utils"
    slug, ref = links.repository()
    assert requirement.url == f"git+https://github.com/{slug}@{ref}"
    assert re.fullmatch(r"git\+https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@[A-Za-z0-9_./-]+",
                        requirement.url), f"malformed VCS URL {requirement.url!r}"
    assert not re.search(r"\btorch(vision)?\b", spec), "the Colab setup cell must not (re)install torch/torchvision"
    pip_line = next(line for line in links.setup_cell_source().splitlines() if "%pip" in line)
    assert not re.search(r"(\s-U\b|--upgrade|--force-reinstall)", pip_line), "never upgrade Colab's packages"


def test_dependencies_never_force_a_reinstall():
    """Colab, Kaggle and most machines already have these: lower bounds only, so pip keeps what is there."""
    for dep in map(Requirement, PROJECT["dependencies"]):
        assert all(s.operator == ">=" for s in dep.specifier), f"{dep}: use a lower bound only (>=)"
        assert not dep.url and not dep.marker, f"{dep}: a plain name with a lower bound"


def test_setup_cell_does_nothing_off_colab(monkeypatch):
    source = links.setup_cell_source()
    assert _run_setup_cell(source, monkeypatch, on_colab=False, course_utils_importable=False) == []
    assert _run_setup_cell(source, monkeypatch, on_colab=True, course_utils_importable=True) == []


def test_setup_cell_installs_on_colab_when_missing(monkeypatch):
    """Positive control for the test above: the fake Colab does get the pip call."""
    source = links.setup_cell_source()
    calls = _run_setup_cell(source, monkeypatch, on_colab=True, course_utils_importable=False)
    assert len(calls) == 1 and calls[0][0] == "pip"
    assert _pip_spec(source) in calls[0][1]


# -- every import declared -----------------------------------------------------------------------------

def declared_modules(requirements: list[str]) -> dict[str, str]:
    """Top-level module -> distribution, for the distributions ``requirements`` name (e.g. sklearn ->
    scikit-learn, PIL -> pillow), read from the installed distributions' metadata."""
    wanted = {canonicalize_name(Requirement(r).name) for r in requirements}
    modules = {}
    for module, distributions in importlib.metadata.packages_distributions().items():
        for name in distributions:
            if canonicalize_name(name) in wanted:
                modules[module] = name
    unknown = wanted - {canonicalize_name(name) for name in modules.values()}
    assert not unknown, f"declared but not installed here, so their modules are unknown: {sorted(unknown)}"
    return modules


def undeclared_imports(nb, name: str, requirements: list[str]) -> list[str]:
    """The notebook's imports of third-party modules that no distribution in ``requirements`` provides."""
    modules = declared_modules(requirements)
    found = []
    for cell, module in nbkit.imports(nb):
        if module in sys.stdlib_module_names or module in KERNEL_MODULES or module == "course_utils":
            continue
        if module not in modules:
            found.append(f"{name}, cell {cell + 1}: imports {module!r}, which no dependency of course_utils provides: "
                         "add its distribution to [project] dependencies in pyproject.toml (a lower bound only)")
    return found


@pytest.mark.parametrize("path", nbkit.all_notebooks(), ids=lambda p: str(p.relative_to(NOTEBOOK_DIR)))
def test_every_import_is_a_dependency_of_course_utils(path):
    """On Colab, Kaggle or a plain `pip install course_utils`, only the package's dependencies are there."""
    found = undeclared_imports(nbkit.read(path), path.name, PROJECT["dependencies"])
    assert not found, "\n".join(found)


def test_undeclared_import_is_reported():
    """The check above fails, naming notebook, cell and module, for a module no dependency brings."""
    cell = ("%matplotlib inline\nimport os\nimport yaml\nfrom sklearn.metrics import f1_score\nimport PIL.Image\n"
            "from IPython.display import Markdown\nimport course_utils as cu\nif True:\n    !pip list\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 99 · Test"), nbformat.v4.new_code_cell(cell)])
    deps = ["scikit-learn>=1.3", "pillow>=10"]
    found = undeclared_imports(nb, "99_test.ipynb", deps)
    assert len(found) == 1 and found[0].startswith("99_test.ipynb, cell 2: imports 'yaml'"), found
    assert undeclared_imports(nb, "99_test.ipynb", [*deps, "PyYAML>=6"]) == []  # pyyaml provides yaml


def test_student_requirements_install_the_package():
    """requirements.txt and binder/requirements.txt install course_utils, so its dependencies come along."""
    for name in ("requirements.txt", "binder/requirements.txt"):
        lines = [line.split("#", 1)[0].strip() for line in (REPO / name).read_text().splitlines()]
        assert "-e ." in lines or "." in lines, f"{name} should install course_utils from the repository"


# -- rendered parts: badges, setup cells, runtimes, README tables ---------------------------------------

def test_rendered_parts_are_up_to_date():
    assert sync_notebooks.stale() == [], "out of date: run python -m tools.sync_notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_runtime_line_is_rendered_from_the_measurements(path):
    nb = nbkit.read(path)
    outputs_mode = ((nb.metadata.get("course") or {}).get("outputs") or {}).get("mode")  # the run it shows
    lines = runtimes.RUNTIME_LINE.findall(nbkit.header(nb))
    assert lines == [f"{runtimes.runtime_line(path.stem, outputs_mode=outputs_mode)} {verified.sentence(path.stem)}"], (
        "the first cell's '**Runtime** (measured):' line must be the one rendered from "
        f"benchmarks/results: run python -m tools.sync_notebooks (found {lines})")


def test_runtime_line_renders_each_mode(tmp_path):
    assert [runtimes.human_seconds(s) for s in (4.2, 27, 95, 245, 1300)] == \
        ["4 s", "25 s", "1.5 min", "4 min", "22 min"]
    stem = "03_first_cnn"
    assert runtimes.runtime_line(stem, tmp_path) == \
        "**Runtime** (measured): smoke not measured yet, fast not measured yet; full (GPU) not measured yet."
    hardware = {"cpu_count": 2}
    files = {
        "smoke": {stem: {"status": "ok", "seconds": 17.1, "hardware": hardware}},
        "fast": {stem: {"status": "ok", "seconds": 115.1, "hardware": hardware}},
        "full": {stem: {"status": "ok", "seconds": 41, "gpu": "NVIDIA H100 80GB HBM3", "hardware": hardware},
                 "04_cnn_batchnorm_cifar100": {"status": "failed: boom", "seconds": 3, "hardware": hardware}},
    }
    for mode, entries in files.items():
        (tmp_path / f"notebook_resources_{mode}.json").write_text(json.dumps({"notebooks": entries}))
    assert runtimes.runtime_line(stem, tmp_path) == ("**Runtime** (measured): smoke ~15 s, fast ~2 min on a "
                                                          "2-core CPU; full ~40 s on NVIDIA H100 80GB HBM3.")
    assert runtimes.runtime_line("04_cnn_batchnorm_cifar100", tmp_path).endswith("full (GPU) not measured yet."), \
        "a failed measurement is not a runtime"


def _gpu_target_rows(root) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in gpu_targets.table(root).splitlines()[2:]:
        if line.startswith("| "):
            target, _, measured_text, status = (c.strip() for c in line.strip("|").split(" | "))
            rows[target[:2]] = rows.get(target[:2], []) + [(measured_text, status)]
    return rows


def test_gpu_targets_are_rendered_from_the_results_and_a_miss_stays_visible(tmp_path):
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    assert "No GPU run recorded yet." in gpu_targets.table(tmp_path)
    assert all(status == "not measured yet" for rows in _gpu_target_rows(tmp_path).values() for _, status in rows)
    gpu = {"status": "ok", "gpu": "Some GPU", "hardware": {}}
    full = {"notebooks": {
        "07_resnet": dict(gpu, seconds=119.0, results={}),
        "08_dataset_sampler_internals": dict(gpu, seconds=50.0, results={"cnn_test_accuracy": 0.9188}),
        "03_first_cnn": {"status": "failed: boom", "seconds": 9.0, "results": {"relu_test_accuracy": 0.9}},
    }}
    (results / "notebook_resources_full.json").write_text(json.dumps(full))
    speed = {"device": "Some GPU", "quick": False, "ratio_to_airbench": None,
             "airbench94": {"accuracy": 0.9058, "train_seconds": 1.9},
             "course_resnet": {"accuracy": 0.8952, "train_seconds": 7.6, "recipe": {"epochs": 12}},
             "loader_images_per_s": {"speedup": 19.5, "gpu_loader": 195.0, "dataloader_2_workers": 10.0}}
    (results / "cifar10_speed.json").write_text(json.dumps(speed))
    rows = _gpu_target_rows(tmp_path)
    assert rows["08"] == [("CNN test 91.88%", "**missed**")], "91.88% is below the original post's 91.89%"
    assert rows["07"][0] == ("whole notebook 119 s", "met")
    assert rows["07"][1][1] == "**missed**" and "never reached airbench94's 90.58%" in rows["07"][1][0]
    assert rows["07"][2] == ("19.5× (195 vs 10 images/s)", "**missed**"), "19.5x is under the 20x target"
    assert rows["03"] == [("–", "not measured yet")], "a failed run is not a measurement"
    assert "Measured on Some GPU" in gpu_targets.table(tmp_path)
    speed.update(quick=True)  # a --quick check run is never shown as a measurement
    (results / "cifar10_speed.json").write_text(json.dumps(speed))
    assert [s for _, s in _gpu_target_rows(tmp_path)["07"][1:]] == ["not measured yet"] * 2


def test_readme_has_colab_and_binder_link_per_notebook():
    readme = (REPO / "README.md").read_text()
    slug, ref = links.repository()
    colab = re.findall(r"https://colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/([^/]+)/([^)\s]+)", readme)
    binder = re.findall(r"https://mybinder\.org/v2/gh/([^/]+/[^/]+)/([^?]+)\?labpath=([^)\s]+)", readme)
    for path in NOTEBOOKS:
        rel = f"notebooks/{path.name}"
        assert (slug, ref, rel) in colab, f"README has no Colab link to {rel} at {slug}@{ref}"
        assert (slug, ref, rel.replace("/", "%2F")) in binder, f"README has no Binder link to {rel}"
    for _, _, rel in colab:
        assert (REPO / rel).is_file(), f"README's Colab link points at a missing notebook: {rel}"
    for _, _, rel in binder:
        assert (REPO / rel.replace("%2F", "/")).is_file(), f"README's Binder link points at a missing notebook: {rel}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_header_has_title_and_summary(path):
    info = readme_table.notebook_info(path)
    assert info["number"] == path.name[:2], "the title's number should match the file name"
    assert info["learn"], "add a '<!-- summary: ... -->' line or 'You will learn' bullets to the first cell"


def test_summary_falls_back_to_first_bullet(tmp_path):
    """Notebooks without a '<!-- summary: ... -->' line still get a 'you learn' entry."""
    nb = nbkit.read(NOTEBOOKS[0])
    nb.cells[0].source = re.sub(r"<!--\s*summary:.*?-->\n?", "", nbkit.header(nb), flags=re.S)
    path = tmp_path / NOTEBOOKS[0].name
    nbkit.write(nb, path)
    bullets = re.findall(r"^- (.+)$", nbkit.header(nb), re.M)
    assert readme_table.notebook_info(path)["learn"] == bullets[0].rstrip(";.")


# -- links follow the configured repository; an instructor's fork ---------------------------------------

def test_every_link_follows_the_configured_repository():
    """Badges, setup cells and links in README.md, the other Markdown files and every notebook (recursively,
    notebooks/ko/ included) point at pyproject.toml's repository and ref."""
    found = sync_notebooks.foreign_links()
    assert not found, ("links to another repository (run python -m tools.sync_notebooks --repository URL, or add "
                       "a third-party repository to THIRD_PARTY_REPOSITORIES in tools/links.py):\n"
                       + "\n".join(found))


def _copy_course(root):
    """The files the fork command reads and writes, copied to ``root``."""
    for name in ("pyproject.toml", "README.md", "data/README.md", "benchmarks/README.md"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    shutil.copytree(REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints",
                                                                                        "checkpoints"))
    shutil.copytree(REPO / "benchmarks" / "results", root / "benchmarks" / "results")


def test_fork_command_points_everything_at_the_fork(tmp_path):
    _copy_course(tmp_path)
    sync_notebooks.sync_all(tmp_path)  # start from a rendered copy
    old_slug, _ = links.repository(tmp_path)
    # Control: editing pyproject.toml alone leaves every link behind, and the link check says so.
    pyproject = tmp_path / "pyproject.toml"
    original = pyproject.read_text()
    pyproject.write_text(original.replace(f"github.com/{old_slug}", "github.com/teacher/dl-class"))
    assert len(sync_notebooks.foreign_links(tmp_path)) >= 2 * len(NOTEBOOKS)
    pyproject.write_text(original)

    changed = sync_notebooks.set_repository("https://github.com/teacher/dl-class", "spring-2027", root=tmp_path)
    assert links.repository(tmp_path) == ("teacher/dl-class", "spring-2027")
    assert {"pyproject.toml", "README.md", *(p.name for p in NOTEBOOKS)} <= {c.split("/")[-1] for c in changed}
    assert sync_notebooks.foreign_links(tmp_path) == []
    assert sync_notebooks.stale(tmp_path) == []
    for path in sync_notebooks.linked_files(tmp_path):
        assert old_slug not in path.read_text(), f"{path.relative_to(tmp_path)} still names {old_slug}"
    nb = nbkit.read(tmp_path / "notebooks" / NOTEBOOKS[0].name)
    assert '"course_utils @ git+https://github.com/teacher/dl-class@spring-2027"' in nbkit.source(nb.cells[1])
    assert ("https://colab.research.google.com/github/teacher/dl-class/blob/spring-2027/notebooks/"
            f"{NOTEBOOKS[0].name}") in nbkit.header(nb)
    assert "https://mybinder.org/v2/gh/teacher/dl-class/spring-2027?labpath=notebooks%2F" in \
        (tmp_path / "README.md").read_text()
    assert "https://teacher.github.io/dl-class/" in (tmp_path / "README.md").read_text(), "the website's link"


def test_fork_command_refuses_a_url_that_is_not_github(tmp_path):
    _copy_course(tmp_path)
    before = (tmp_path / "pyproject.toml").read_text()
    with pytest.raises(SystemExit, match="https://github.com/OWNER/NAME"):
        sync_notebooks.set_repository("https://gitlab.com/teacher/dl-class", root=tmp_path)
    assert (tmp_path / "pyproject.toml").read_text() == before, "a refused URL must leave pyproject.toml as it was"


# -- Binder ----------------------------------------------------------------------------------------------

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
    assert "jupyterlab" in reqs, "binder/requirements.txt should install jupyterlab"
    assert "-e ." in lines or "." in lines, "binder/requirements.txt should install course_utils from the repo"


def test_fast_mode_fits_in_binder_memory():
    """mybinder.org gives 2 GB: every notebook measured in fast mode must peak below that."""
    measured = records.measurements("fast").get("notebooks", {})
    assert measured, "no fast-mode measurements: run python -m benchmarks.notebook_resources --mode fast --render"
    missing = [p.stem for p in NOTEBOOKS if not (measured.get(p.stem) or {}).get("peak_rss_mib")]
    assert not missing, f"no fast-mode memory measured for {missing}: run python -m benchmarks.notebook_resources " \
                        "--mode fast --render " + " ".join(m[:2] for m in missing)
    too_big = {name: entry["peak_rss_mib"] for name, entry in measured.items()
               if entry.get("peak_rss_mib") and entry["peak_rss_mib"] >= BINDER_MEMORY_MIB}
    assert not too_big, f"fast mode needs more than Binder's 2 GB (peak MiB): {too_big}"


def test_resources_script_measures_a_notebook(tmp_path):
    """benchmarks/notebook_resources.py executes a notebook and records its time, memory and results."""
    code = ("import sys\nfrom IPython.display import display\nblock = bytearray(300 * 2**20)\n"
            f"display({{'{nbkit.RESULTS_MIMETYPE}': {{'run_mode': RUN_MODE, 'accuracy': 0.5}}}}, raw=True)")
    params = nbformat.v4.new_code_cell("RUN_MODE = None", metadata={"tags": ["parameters"]})
    path = tmp_path / "99_probe.ipynb"
    nbkit.write(nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(code)]), path)
    entry = notebook_resources.measure(path, "smoke", timeout=120)
    assert entry["status"] == "ok", entry
    assert entry["results"] == {"run_mode": "smoke", "accuracy": 0.5}
    assert entry["peak_rss_mib"] >= 300, "the kernel held a 300 MiB buffer: its peak must show it"
    assert entry["seconds"] > 0


def test_resources_script_measures_the_imports_alone():
    """The part of every peak that comes from importing torch, torchvision and course_utils (rendered in README)."""
    entry = notebook_resources.measure_imports("smoke", timeout=300)
    assert entry["status"] == "ok", entry
    assert entry["peak_rss_mib"] > 100, "importing torch alone takes more than 100 MiB"
    assert entry["torch_build"] == "CPU-only" or entry["torch_build"].startswith("CUDA ")


def test_course_map_shows_every_notebook():
    """README's course map (a mermaid diagram) has a node for every notebook, each with at least one arrow."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```mermaid\n(.*?)```", readme, re.S)
    assert block, "README.md needs its course map: a ```mermaid flowchart of what builds on what"
    nodes = set(re.findall(r"\bn(\d\d)\[", block.group(1)))
    linked = set(re.findall(r"\bn(\d\d)\b", "\n".join(line for line in block.group(1).splitlines() if "-->" in line)))
    missing = sorted(p.name[:2] for p in NOTEBOOKS if p.name[:2] not in nodes or p.name[:2] not in linked)
    assert not missing, f"README's course map has no node with an arrow for notebooks {missing}"


OUTSIDE = re.compile(r"DESIGN\.md|reference-posts|/work/|\bseed (?:blog )?posts?\b", re.I)


def test_no_file_points_outside_the_repository():
    """A reader has only the repository: no file cites a document that is not in it, and the posts the course
    grew out of are "the original post", never an internal label. (.ci/run reads the CI data from ../shared.)"""
    import subprocess

    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, text=True, check=True).stdout.split("\n")
    found = []
    for name in filter(None, listed):
        path = REPO / name
        if name in (".ci/run", "tests/test_launch.py") or not path.is_file() or path.suffix in (".png", ".jpg", ".gz"):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if match := OUTSIDE.search(line):
                found.append(f"{name}:{number}: {match.group(0)!r}")
    assert not found, "references to what is not in the repository (say 'the original post'):\n" + "\n".join(found)


def test_results_table_names_each_machine(tmp_path):
    """Measurements of one mode on two machines (e.g. notebooks without a GPU part measured on a CPU): the note
    under README's results table says which notebooks ran on which."""
    _copy_course(tmp_path)
    first, second = NOTEBOOKS[0].stem, NOTEBOOKS[-1].stem
    entries = {first: {"status": "ok", "seconds": 9, "hardware": {"cpu_count": 2}},
               second: {"status": "ok", "seconds": 30, "gpu": "NVIDIA H100", "hardware": {"cpu_count": 16}}}
    results = tmp_path / "benchmarks" / "results" / "notebook_resources_full.json"
    results.write_text(json.dumps({"notebooks": entries}))
    table = readme_table.results_table(tmp_path)
    assert (f"full mode measured on 2-core CPU (notebooks {first[:2]}); NVIDIA H100 (notebooks {second[:2]})"
            in table), table
