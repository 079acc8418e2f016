"""Rehearse, on this machine, the two launch paths that the plain smoke tests do not take.

    python -m tools.rehearse colab              # every notebook as on Colab: alone, course_utils from its setup cell
    python -m tools.rehearse colab 05 07        # some notebooks (numbers, stems or paths)
    python -m tools.rehearse full-shape         # every notebook in full mode, data-size knobs turned down
    python -m tools.rehearse prepare            # only build (or find) the cached Colab environment (.ci/run)
    python -m tools.rehearse colab --versions oldest   # with the oldest versions pyproject.toml allows
    python -m tools.rehearse colab --versions newest   # with the newest releases, without .ci/constraints.txt

Both print each notebook's time and keep the executed copies in ``artifacts/rehearsal/``. The tests run the
same code: each notebook's smoke test runs in a :class:`ColabRehearsal` kernel (tools/nbval_colab.py), and
``tests/test_rehearsals.py`` runs :func:`full_shape`.

**Colab** (:class:`ColabRehearsal`). On Colab a notebook arrives alone: no repository, no ``data/``, only what
Colab preinstalls, and its first code cell (``# Colab setup``) runs
``%pip install "course_utils @ git+https://github.com/OWNER/NAME@REF"``. The rehearsal rebuilds that:

- a virtual environment holding only the packages that Colab preinstalls and the course uses
  (:data:`COLAB_PACKAGES`, versions from ``.ci/constraints.txt``) and a Jupyter kernel; built once
  and cached in ``~/.cache/course_utils/rehearsal/`` (or ``$COURSE_REHEARSAL_CACHE``) under a key
  made of the Python version and that list, and rebuilt when one changes or when the constraints pin
  another version of a package it holds (:func:`stale_pins`);
- per notebook, a fresh environment layered on it (a small venv whose ``.pth`` file adds the cached
  one's site-packages: what pip installs there cannot leak into the next notebook);
- the notebook copied alone into an empty folder outside the checkout, run in smoke mode by a kernel
  of that environment with a stand-in ``google.colab`` module imported at start (as Colab does), so
  the setup cell takes its Colab branch: course_utils is not importable, so it runs its ``%pip install``
  unchanged. The GitHub URL it names cannot be reached from here (nor from CI), so git's
  ``url.<base>.insteadOf`` points it at a git snapshot of this checkout (tracked and untracked,
  not ignored, files) whose branch is the configured ref: pip clones it, builds course_utils' wheel
  and installs it, non-editable, with the dependencies it declares, exactly as on Colab. pip runs
  offline (``--no-index``) from a small wheelhouse of what the cached environment lacks (the build
  backend, dependencies Colab does not preinstall), prepared once with the machine's package index.

A notebook that imports a module that neither Colab nor course_utils brings, or reads a file of the
repository, fails with a :class:`RehearsalError` that says so.

**Version sets** (``--versions``, :data:`VERSION_SETS`): which versions the Colab environment gets; nothing
else changes. ``pinned`` (the default, and what the tests use): ``.ci/constraints.txt``. ``oldest``: the
oldest release of each dependency in pyproject.toml that has a wheel for this Python, resolved by uv
(``--resolution lowest-direct``; pip has no lowest-version resolver). ``newest``: what pip resolves
today without the constraints. Either is resolved afresh each run into a constraints file that replaces
``.ci/constraints.txt`` for the environment and the wheelhouse, and is cached in an environment of its
own (``colab_oldest-*``, ``colab_newest-*``), rebuilt when the resolution changes. A run with
``--versions`` also checks each notebook as the smoke tests do (:func:`smoke_checks.smoke_problems`) and writes
what was installed and each notebook's outcome into ``benchmarks/results/compatibility.json`` (and its
rendering, ``compatibility.md`` and README's ``compatibility`` block): :func:`record_compatibility`.

**Full shape** (:func:`full_shape`). ``RUN_MODE = "full"`` with only the data-size knobs of
:func:`full_shape_knobs` turned down (images, epochs, steps), so full mode's models, widths, batch
sizes, input sizes and branches run on a CPU. Notebooks read their knobs with ``cu.RunSettings``, whose
``full_size`` is False then, and skip, saying so, the checks that only hold for a full-size run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import tomllib
from datetime import date
from pathlib import Path

try:
    from benchmarks import records
    from tools import execute, links, nbkit, smoke_checks
    from tools.paths import CONSTRAINTS, REPO, RESULTS_DIR
except ModuleNotFoundError as error:  # run as a file, without the repository root on sys.path
    raise SystemExit(f"{error}: run this from the repository root as python -m tools.rehearse") from None

ARTIFACTS = REPO / "artifacts" / "rehearsal"

# What Colab preinstalls that the course uses (course_utils' dependencies and the notebooks' imports),
# plus the Jupyter kernel. Colab has many more packages; anything else a notebook needs must come
# from course_utils' own dependencies.
COLAB_PACKAGES = ("torch", "torchvision", "numpy", "pandas", "matplotlib", "scikit-learn", "tqdm", "ipywidgets",
                  "psutil", "ipykernel")

# The version sets a Colab rehearsal can install (--versions); the value says what each is, in the record.
VERSION_SETS = {
    "pinned": "the versions CI installs (.ci/constraints.txt)",
    "oldest": ("the oldest release of each dependency in pyproject.toml that has a wheel for this Python (uv pip "
               "compile --resolution lowest-direct --only-binary :all:), with the newest releases of what they "
               "pull in"),
    "newest": ("the newest releases pip installs on this machine without .ci/constraints.txt (pip's own "
               "configuration still applies: pip_constraints lists what it held back)"),
}
# The rehearsal's Jupyter kernel is not a course dependency (on Colab, Colab's kernel runs the notebook): every
# version set holds it at its .ci/constraints.txt pin, so that a set tests the course's dependencies, not a kernel
# release (ipykernel 7.4 once sat idle without answering a cell in a CI run here, a hang reported upstream).
HARNESS = ("ipykernel",)
COMPATIBILITY = RESULTS_DIR / "compatibility.json"

# The full-shape rehearsal runs full mode with every data-size knob turned down: the knobs of the parameters cell
# that hold one value per run mode (``EPOCHS = {"smoke": 1, "fast": 4, "full": 30}``, read by cu.RunSettings) and
# whose name says they count images, epochs or steps. Each takes its smoke value, or the value below where the smoke
# size does not suit full mode's shapes (widths, batch sizes, input sizes): smaller where they make the smoke size
# too slow for the CI's budget, larger where one full-mode batch needs more images than the smoke size.
# Widths, batch sizes and input sizes are never turned down: they are what this rehearsal is for.
DATA_SIZE_KNOB = re.compile(r"(?:^|_)(?:IMAGES|EPOCHS|STEPS)$|^PATIENCE$")
FULL_SHAPE_SIZES: dict[str, dict[str, int]] = {
    "02_normalization_and_augmentation": {"TEST_IMAGES": 500},
    "03_first_cnn": {"EPOCHS": 1, "TRAIN_IMAGES": 500, "VAL_IMAGES": 200, "TEST_IMAGES": 200},
    "04_cnn_batchnorm_cifar100": {"TRAIN_IMAGES": 512, "EVAL_IMAGES": 200, "TEST_IMAGES": 200},
    "05_vgg": {"TRAIN_IMAGES": 256, "EVAL_IMAGES": 200, "TEST_IMAGES": 200},
    "06_transfer_learning": {"SOURCE_IMAGES": 500, "TARGET_IMAGES": 100, "TARGET_EPOCHS": 1, "TRAIN_IMAGES": 10,
                             "VAL_IMAGES": 10, "TEST_IMAGES": 10, "VGG_TRAIN_IMAGES": 5, "VGG_TEST_IMAGES": 5,
                             "TIMING_STEPS": 1},
    # LOADER_IMAGES: at least one batch of the full-mode BATCH_SIZE (512), as the loaders drop a partial batch
    "07_resnet": {"EPOCHS": 1, "TRAIN_IMAGES": 512, "LOADER_IMAGES": 512, "VAL_IMAGES": 100, "TEST_IMAGES": 100,
                  "EXERCISE_STEPS": 2},
    "08_dataset_sampler_internals": {"EPOCHS": 2, "VAL_IMAGES": 200, "TEST_IMAGES": 500},
    "10_distributed_data_parallel": {"EPOCHS": 1},
}


def full_shape_knobs(path: Path) -> dict[str, int]:
    """The data-size knobs of notebook ``path`` and the values the full-shape rehearsal gives them."""
    smaller = FULL_SHAPE_SIZES.get(Path(path).stem, {})
    return {name: smaller.get(name, table["smoke"]) for name, table in nbkit.mode_knobs(nbkit.read(path)).items()
            if DATA_SIZE_KNOB.search(name)}


FULL_SHAPE_BUDGET_S = 600  # all notebooks together, on the 2-core CI machine

PROBE_MIMETYPE = "application/vnd.course-rehearsal+json"
# CPU seconds of the kernel and its finished children (pip, DataLoader workers): unlike wall time, they
# hardly depend on what else the machine runs, so they estimate the time on a quiet machine.
CPU_SECONDS = ("sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) "
               "for f in ('ru_utime', 'ru_stime'))")
COLAB_PROBE = f'''# Appended by tools/rehearse.py: where course_utils came from, and what the kernel saw.
def _rehearsal_probe():
    import importlib.metadata, json, os, resource, sys
    import course_utils
    from IPython.display import display
    dist = importlib.metadata.distribution("course_utils")
    display({{"{PROBE_MIMETYPE}": {{
        "cpu_seconds": {CPU_SECONDS},
        "google_colab_imported": "google.colab" in sys.modules,
        "platform": course_utils.detect_platform(),
        "course_utils_file": course_utils.__file__,
        "direct_url": json.loads(dist.read_text("direct_url.json") or "null"),
        "prefix": sys.prefix,
        "cwd_files": sorted(os.listdir(".")),
    }}}}, raw=True)

_rehearsal_probe()
'''
FULL_SHAPE_PROBE = f'''# Appended by tools/rehearse.py: the run mode, and whether the knobs counted as turned down.
def _rehearsal_probe():
    import resource
    from IPython.display import display
    settings = globals().get("settings")  # cu.RunSettings; a notebook without size knobs has none (always full size)
    display({{"{PROBE_MIMETYPE}": {{"RUN_MODE": RUN_MODE, "FULL_SIZE": getattr(settings, "full_size", True),
                                  "cpu_seconds": {CPU_SECONDS}}}}}, raw=True)

_rehearsal_probe()
'''
GOOGLE_COLAB_STUB = '''"""Stand-in for Colab's google.colab (tools/rehearse.py), imported at kernel start."""
'''


class RehearsalError(AssertionError):
    """A notebook failed a rehearsal; the message says which, where and what to do."""


# -- shared --------------------------------------------------------------------------------------------

def _failure(path: Path, executed: Path, what: str, exc: Exception) -> RehearsalError:
    error = execute.first_error(nbkit.read(executed)) if executed.exists() else None
    if error is None:  # e.g. a cell ran past the timeout, or the kernel died
        return RehearsalError(f"{path.name}: {what} did not finish: {type(exc).__name__}: {exc}"[:2000])
    where = f"{path.name}, {error['where']}"
    if error["ename"] in ("ModuleNotFoundError", "ImportError") and what == "the Colab rehearsal":
        return RehearsalError(
            f"{where}\nThe notebook imports a module that neither Colab's preinstalled packages "
            f"({', '.join(COLAB_PACKAGES)}) nor course_utils' dependencies provide: add its distribution to "
            f"[project] dependencies in pyproject.toml (a lower bound only). Executed copy: {executed}")
    if error["ename"] in ("FileNotFoundError", "IsADirectoryError", "NotADirectoryError") \
            and what == "the Colab rehearsal":
        return RehearsalError(
            f"{where}\nOn Colab the notebook arrives alone, without the repository: it must not read files of "
            f"the repository (put what it needs in course_utils, or write it from the notebook). "
            f"Executed copy: {executed}")
    return RehearsalError(f"{where}\n{what} failed; executed copy: {executed}")


def _run(path: Path, out: Path, parameters: dict, what: str, **kwargs) -> tuple[object, float]:
    start = time.perf_counter()
    out.unlink(missing_ok=True)  # never read a previous run's copy
    try:
        nb = execute.execute(path, out, parameters, **kwargs)
    except Exception as exc:  # papermill's cell error, a cell timeout, a dead kernel
        raise _failure(path, out, what, exc) from None
    return nb, time.perf_counter() - start


# -- full shape ----------------------------------------------------------------------------------------

def full_shape(path: Path, out_dir: Path = ARTIFACTS / "full_shape", knobs: dict | None = None,
               timeout: int | None = None) -> dict:
    """Execute ``path`` with ``RUN_MODE="full"`` and its data-size ``knobs`` (default: :func:`full_shape_knobs`).

    Runs in an empty working folder, without the exercise solutions (as a student's *Run All*).
    Returns ``{"seconds", "results", "probe", "executed"}``; raises :class:`RehearsalError` on an error.
    """
    path = Path(path)
    if knobs is None:
        knobs = full_shape_knobs(path)
    out = Path(out_dir) / path.name
    with tempfile.TemporaryDirectory(prefix="full_shape_") as work:
        nb, seconds = _run(path, out, {"RUN_MODE": "full", "SHOW_SOLUTIONS": False, **knobs},
                           "the full-shape rehearsal", cwd=Path(work), timeout=timeout, append=[FULL_SHAPE_PROBE])
    return {"seconds": seconds, "results": nbkit.results(nb), "probe": nbkit.outputs(nb, PROBE_MIMETYPE),
            "executed": out}


# -- Colab ---------------------------------------------------------------------------------------------

def cache_dir() -> Path:
    return Path(os.environ.get("COURSE_REHEARSAL_CACHE") or Path.home() / ".cache" / "course_utils" / "rehearsal")


def _key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _pip(python: Path, *args: str, env: dict | None = None, quiet: bool = True) -> None:
    cmd = [str(python), "-m", "pip", *args] + (["--quiet"] if quiet else [])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RehearsalError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _site_packages(prefix: Path) -> Path:
    return Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))


def _pins(text: str) -> dict[str, str]:
    """``{normalized name: version}`` of the ``name==version`` lines of a constraints file or ``pip freeze``."""
    pins = {}
    for line in text.splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep:
            pins[name.strip().lower().replace("_", "-").replace(".", "-")] = version.strip()
    return pins


def stale_pins(venv: Path, constraints: str) -> list[str]:
    """The packages of the cached environment whose version is not the one ``constraints`` pins (empty: fresh).

    Only the environment's own packages count: adding a test tool to the constraints does not rebuild it."""
    wanted = _pins(constraints)
    installed = _pins((venv / "preinstalled.txt").read_text())
    return [f"{name} {version} (pinned {wanted[name]})" for name, version in sorted(installed.items())
            if name in wanted and wanted[name] != version]


def _normal(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): ``Scikit_Learn`` -> ``scikit-learn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _normal(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1))


def course_dependencies(root: Path = REPO) -> list[str]:
    """pyproject.toml's ``[project] dependencies``, as written: what the setup cell's pip install asks for."""
    return tomllib.loads((Path(root) / "pyproject.toml").read_text())["project"]["dependencies"]


def requirements(root: Path = REPO, constraints: str | None = None) -> list[str]:
    """What a version set is resolved from: the course's dependencies as declared, and the rehearsal's
    kernel (:data:`HARNESS`) at its pin in ``constraints`` (default: ``.ci/constraints.txt``)."""
    pins = _pins(CONSTRAINTS.read_text() if constraints is None else constraints)
    missing = [name for name in HARNESS if name not in pins]
    if missing:
        raise RehearsalError(f"{', '.join(missing)} must be pinned in .ci/constraints.txt: every version set holds "
                             "the rehearsal's kernel at that pin")
    return [*course_dependencies(root), *(f"{name}=={pins[name]}" for name in HARNESS)]


def uv_executable() -> str:
    """The uv command (requirements-dev.txt installs it): on PATH, or the one the ``uv`` package ships."""
    found = shutil.which("uv")
    if found is None:
        try:
            from uv import find_uv_bin

            found = find_uv_bin()
        except (ImportError, FileNotFoundError):
            raise RehearsalError("the oldest versions are resolved with uv (pip has no lowest-version resolver): "
                                 "pip install -r requirements-dev.txt, or pip install uv") from None
    return found


def resolve_command(versions: str, requirements_file: Path, output: Path, python: str = sys.executable,
                    uv: str | None = None) -> list[str]:
    """The command that resolves ``versions`` from ``requirements_file`` for ``python``, writing ``output``
    (uv's ``name==version`` lines for ``oldest``, pip's JSON installation report for ``newest``). Wheels only:
    Colab and a student's ``pip install`` use wheels, so a release without one for this Python does not count."""
    if versions == "oldest":
        return [uv or uv_executable(), "pip", "compile", "--resolution", "lowest-direct", "--only-binary", ":all:",
                "--python", python, "--no-header", "--no-annotate", "--quiet", "--output-file", str(output),
                str(requirements_file)]
    if versions == "newest":
        return [python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--only-binary", ":all:",
                "--quiet", "--report", str(output), "-r", str(requirements_file)]
    raise ValueError(f"{versions!r} is not resolved: choose one of {', '.join(VERSION_SETS)}")


def parse_resolution(versions: str, output: str) -> dict[str, str]:
    """``{normalized name: version}`` from what :func:`resolve_command` wrote."""
    if versions == "oldest":
        return _pins(output)
    return {_normal(item["metadata"]["name"]): item["metadata"]["version"] for item in json.loads(output)["install"]}


def resolve(versions: str, log=print, root: Path = REPO) -> str:
    """The constraints text (``name==version`` lines) of a version set: ``.ci/constraints.txt`` for
    ``pinned``; for the others, resolved now from pyproject.toml (:func:`requirements`)."""
    if versions == "pinned":
        return CONSTRAINTS.read_text()
    with tempfile.TemporaryDirectory(prefix="rehearsal_resolve_") as tmp:
        wanted, output = Path(tmp) / "requirements.txt", Path(tmp) / "resolved"
        wanted.write_text("\n".join(requirements(root)) + "\n")
        command = resolve_command(versions, wanted, output)
        log(f"resolving the {versions} versions: {shlex.join(command)}")
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode or not output.exists():
            said = (done.stdout + done.stderr).splitlines()
            errors = [line for line in said if "error" in line.lower()] or said[-30:]  # not pip's warnings
            raise RehearsalError(
                f"resolving the {versions} versions failed:\n" + "\n".join(errors)[-3000:] + "\n"
                f"Requirements: {', '.join(requirements(root))}. A lower bound that has no wheel for Python "
                f"{platform.python_version()}, or that conflicts with another, is false: raise it in pyproject.toml.")
        pins = parse_resolution(versions, output.read_text())
    return (f"# The {versions} version set ({VERSION_SETS[versions]}), resolved by tools/rehearse.py on "
            f"{date.today().isoformat()} for Python {platform.python_version()}.\n"
            + "".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))


def machine_pip_constraints() -> list[str]:
    """The requirement lines of the constraint files that pip's configuration applies to every install on this
    machine (``pip config``'s ``constraint`` settings, ``$PIP_CONSTRAINT``): what ``newest`` could not go past."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    files = [value for line in listed.splitlines()
             for key, _, value in [line.partition("=")] if key.rsplit(".", 1)[-1] == "constraint"]
    files = [name for value in files for name in value.strip().strip("'\"").split()]
    files += os.environ.get("PIP_CONSTRAINT", "").split()
    lines = []
    for name in dict.fromkeys(files):
        if Path(name).is_file():
            lines += [line.split("#")[0].strip() for line in Path(name).read_text().splitlines()
                      if line.split("#")[0].strip()]
    return lines


def environment_path(versions: str = "pinned") -> Path:
    """Where the cached environment of a version set lives. The default set's name is unchanged
    (``colab-KEY``); another set's (``colab_oldest-KEY``) never matches the ``colab-*`` that a build of
    the default set removes, so the sets never delete each other's environments."""
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    prefix = "colab" if versions == "pinned" else f"colab_{versions}"
    return cache_dir() / f"{prefix}-{_key(python_version, ' '.join(COLAB_PACKAGES))}"


def set_environments(versions: str = "pinned") -> list[Path]:
    """The cached environments of one version set, whatever their key: what a new build of that set replaces."""
    prefix = environment_path(versions).name.rsplit("-", 1)[0]
    return sorted(cache_dir().glob(f"{prefix}-*"))


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def base_environment(log=print, versions: str = "pinned", constraints: str | None = None) -> Path:
    """The cached virtual environment with Colab's preinstalled packages (built when missing or stale).

    ``versions``: the version set; ``constraints``: its pins (the text :func:`resolve` returns), required
    for any set but ``pinned``, whose pins are ``.ci/constraints.txt``. A resolved set's pins are kept in
    the environment's ``constraints.txt``; its build time and size in ``build.json``."""
    if versions == "pinned":
        constraints, constraints_file = CONSTRAINTS.read_text(), CONSTRAINTS
    elif constraints is None:
        raise ValueError(f"base_environment: the {versions!r} set needs its resolved constraints (resolve())")
    venv = environment_path(versions)
    if versions != "pinned":
        constraints_file = venv / "constraints.txt"

    def ready() -> bool:
        return (venv / "ready").exists() and not stale_pins(venv, constraints)

    if ready():
        return venv
    # One lock per version set: a long build of another set never holds up the default set's (.ci/run).
    with records.locked(cache_dir() / ("build.lock" if versions == "pinned" else f"build_{versions}.lock")):
        if ready():
            return venv
        if (venv / "ready").exists():
            log(f"the rehearsal environment is stale: {', '.join(stale_pins(venv, constraints))}")
        for stale in set_environments(versions):  # one venv of several GB per version set is enough
            log(f"removing the stale rehearsal environment {stale}")
            shutil.rmtree(stale, ignore_errors=True)
        log(f"building the Colab rehearsal environment in {venv} (once per Python and package versions: several GB)")
        start = time.perf_counter()
        base_python = Path(getattr(sys, "_base_executable", sys.executable))
        subprocess.run([str(base_python), "-m", "venv", str(venv)], check=True)
        if versions != "pinned":
            constraints_file.write_text(constraints)
        python = venv / "bin" / "python"
        _pip(python, "install", "--upgrade", "pip")
        _pip(python, "install", "-c", str(constraints_file), *COLAB_PACKAGES)
        frozen = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True, check=True)
        (venv / "preinstalled.txt").write_text(frozen.stdout)
        seconds = time.perf_counter() - start
        (venv / "build.json").write_text(json.dumps({"built": date.today().isoformat(), "seconds": round(seconds),
                                                     "size_mb": round(_size_mb(venv))}) + "\n")
        (venv / "ready").write_text(f"built in {seconds:.0f} s\n")
        log(f"built in {seconds:.0f} s")
    return venv


def snapshot(dest: Path, ref: str) -> Path:
    """A git repository at ``dest`` holding this checkout's files (tracked and untracked, not ignored),
    committed on branch ``ref``: what GitHub would serve to the setup cell's ``pip install``."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    dest.mkdir(parents=True)
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git = ["git", "-C", str(dest), "-c", "user.name=rehearsal", "-c", "user.email=rehearsal@localhost",
           "-c", "commit.gpgsign=false"]
    steps = (["init", "--quiet", "--initial-branch", ref], ["add", "--all"], ["commit", "--quiet", "-m", "snapshot"])
    for args in steps:
        subprocess.run(git + args, check=True, capture_output=True)
    return dest


def wheelhouse(venv: Path, project: Path, log=print, constraints: Path = CONSTRAINTS) -> Path:
    """Wheels that ``pip install`` of course_utils needs and the cached environment lacks: the build
    backend and the dependencies Colab does not preinstall, at the versions ``constraints`` pins. Prepared
    with the machine's package index, cached next to the environment under a key of pyproject.toml's
    dependencies and build requirements (and of the pins, for a resolved version set)."""
    config = tomllib.loads((project / "pyproject.toml").read_text())
    requires = config["build-system"]["requires"]
    pins = () if constraints == CONSTRAINTS else (json.dumps(sorted(_pins(constraints.read_text()).items())),)
    key = _key(json.dumps(config["project"]["dependencies"]), json.dumps(requires), *pins)
    folder = venv / f"wheelhouse-{key}"
    if (folder / "ready").exists():
        return folder
    with records.locked(venv / "wheelhouse.lock"):
        if (folder / "ready").exists():
            return folder
        log(f"preparing the wheelhouse {folder}")
        for old in venv.glob("wheelhouse-*"):  # an earlier pyproject.toml's: a few MB each, never read again
            shutil.rmtree(old, ignore_errors=True)
        python = venv / "bin" / "python"
        report = folder / "report.json"
        folder.mkdir(parents=True)
        _pip(python, "install", "--dry-run", "--report", str(report), "-c", str(constraints), str(project))
        missing = [f"{item['metadata']['name']}=={item['metadata']['version']}"
                   for item in json.loads(report.read_text())["install"]
                   if item["metadata"]["name"].replace("_", "-").lower() != "course-utils"]
        _pip(python, "download", "--no-deps", "--only-binary", ":all:", "--dest", str(folder), *requires, *missing)
        (folder / "ready").write_text("\n".join(missing) + "\n")
    return folder


class ColabRehearsal:
    """The cached environment, the snapshot and the wheelhouse, made once for several notebooks.

        with ColabRehearsal() as colab:
            colab.run(path)
    """

    def __init__(self, log=print, versions: str = "pinned"):
        if versions not in VERSION_SETS:
            raise ValueError(f"versions={versions!r}: choose one of {', '.join(VERSION_SETS)}")
        self.log = log
        self.versions = versions
        self.slug, self.ref = links.repository()
        self.venv = base_environment(log, versions, resolve(versions, log))
        self.constraints = CONSTRAINTS if versions == "pinned" else self.venv / "constraints.txt"
        self._tmp = Path(tempfile.mkdtemp(prefix="colab_rehearsal_"))
        self.snapshot = snapshot(self._tmp / "snapshot", self.ref)
        self.wheels = wheelhouse(self.venv, self.snapshot, log, self.constraints)
        self.stub = self._tmp / "stub"
        (self.stub / "google" / "colab").mkdir(parents=True)
        (self.stub / "google" / "colab" / "__init__.py").write_text(GOOGLE_COLAB_STUB)
        (self.stub / "sitecustomize.py").write_text("import google.colab  # noqa: F401  (as Colab's kernel does)\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        shutil.rmtree(self._tmp, ignore_errors=True)

    def installed(self) -> dict[str, str]:
        """``{normalized name: version}`` of what a notebook's kernel gets: the cached environment's packages and
        the wheelhouse's (the only versions its setup cell's offline pip install can add)."""
        return {**_pins((self.venv / "preinstalled.txt").read_text()), **_pins((self.wheels / "ready").read_text())}

    def environment_info(self) -> dict:
        """When the cached environment was built, in how long, and its size on disk (``build.json``)."""
        path = self.venv / "build.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _environment(self, name: str) -> Path:
        """A fresh venv layered on the cached one: Colab's packages visible, pip installs land here only."""
        overlay = self._tmp / "envs" / name
        base_python = Path(getattr(sys, "_base_executable", sys.executable))
        subprocess.run([str(base_python), "-m", "venv", "--without-pip", str(overlay)], check=True)
        (_site_packages(overlay) / "_colab_preinstalled.pth").write_text(
            f"import site; site.addsitedir({str(_site_packages(self.venv))!r})\n")
        return overlay

    def _kernel(self, overlay: Path, jupyter_path: Path) -> str:
        env = {
            "PATH": f"{overlay / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "VIRTUAL_ENV": str(overlay),
            "PYTHONPATH": str(self.stub),  # google.colab, imported at start by sitecustomize; nothing else
            "COURSE_DATA_ROOT": os.environ.get("COURSE_DATA_ROOT") or str(REPO / "data"),
            # pip: offline, from the wheelhouse; no machine or user configuration
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(self.wheels),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            # git: the repository's GitHub URL serves this checkout's snapshot; any other URL fails at once
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": f"url.file://{self.snapshot}.insteadOf",
            "GIT_CONFIG_VALUE_0": f"https://github.com/{self.slug}",
            "GIT_CONFIG_KEY_1": "url.file:///nonexistent/only-the-course-repository-is-served/.insteadOf",
            "GIT_CONFIG_VALUE_1": "https://",
        }
        # The machine's thread and BLAS settings (e.g. OMP_NUM_THREADS from pytest -n, OPENBLAS_CORETYPE where a
        # processor needs it): the kernel computes as a kernel of this machine would.
        env.update({name: value for name, value in os.environ.items()
                    if name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") or name.startswith("OPENBLAS_")})
        spec = {"argv": [str(overlay / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Colab rehearsal", "language": "python", "env": env}
        folder = jupyter_path / "kernels" / "colab-rehearsal"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "kernel.json").write_text(json.dumps(spec, indent=1))
        return "colab-rehearsal"

    def kernel(self, path: Path) -> dict:
        """What a test runner that drives the kernel itself needs (tools/nbval_colab.py, which runs the notebooks
        under pytest with nbval): ``{"kernel", "folder", "jupyter_path", "overlay"}``, the name of a kernel of a
        fresh environment layered on the cached one, found on ``jupyter_path``, and Colab's /content: a fresh
        folder holding the notebook alone. :meth:`release` removes the environment."""
        path = Path(path)
        name = f"{path.parent.name}_{path.stem}"  # notebooks/ko/01_x and notebooks/01_x side by side
        overlay = self._environment(name)
        jupyter_path = self._tmp / "jupyter" / name
        folder = self._tmp / "content" / name
        folder.mkdir(parents=True)
        shutil.copy2(path, folder / path.name)
        return {"kernel": self._kernel(overlay, jupyter_path), "folder": folder, "jupyter_path": jupyter_path,
                "overlay": overlay}

    def release(self, launched: dict) -> None:
        shutil.rmtree(launched["overlay"], ignore_errors=True)

    def run(self, path: Path, out_dir: Path = ARTIFACTS / "colab", parameters: dict | None = None,
            timeout: int | None = None) -> dict:
        """Run ``path`` as on Colab (smoke mode by default); return ``{"seconds", "results", "probe", "executed"}``."""
        path = Path(path)
        overlay = self._environment(path.stem)
        jupyter_path = self._tmp / "jupyter" / path.stem
        kernel = self._kernel(overlay, jupyter_path)
        folder = self._tmp / "content" / path.stem  # Colab's /content: the notebook and nothing else
        folder.mkdir(parents=True)
        shutil.copy2(path, folder / path.name)
        out = Path(out_dir) / path.name
        parameters = {"RUN_MODE": "smoke", "SHOW_SOLUTIONS": True} if parameters is None else parameters
        old = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(jupyter_path), old]))
        try:
            nb, seconds = _run(folder / path.name, out, parameters, "the Colab rehearsal", cwd=folder,
                               timeout=timeout, kernel_name=kernel, append=[COLAB_PROBE])
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old
            shutil.rmtree(overlay, ignore_errors=True)
        probe = nbkit.outputs(nb, PROBE_MIMETYPE)
        problems = self.check_probe(probe, overlay)
        if problems:
            raise RehearsalError(f"{path.name}: the Colab rehearsal was not faithful: {'; '.join(problems)}")
        return {"seconds": seconds, "results": nbkit.results(nb), "probe": probe, "executed": out}

    def check_probe(self, probe: dict, overlay: Path) -> list[str]:
        """What was wrong with the kernel's environment (empty when it was Colab's)."""
        problems = []
        if not probe.get("google_colab_imported") or probe.get("platform") != "colab":
            problems.append("google.colab was not imported at start, so the setup cell did not take its Colab branch")
        installed = Path(probe.get("course_utils_file") or "/")
        if not installed.is_relative_to(_site_packages(overlay)):
            problems.append(f"course_utils came from {installed}, not from the setup cell's pip install")
        vcs = (probe.get("direct_url") or {}).get("vcs_info", {})
        if (probe.get("direct_url") or {}).get("url") != f"https://github.com/{self.slug}" \
                or vcs.get("requested_revision") != self.ref:
            problems.append(f"course_utils was not installed from the setup cell's URL: {probe.get('direct_url')}")
        return problems


# -- the compatibility record ---------------------------------------------------------------------------

README = REPO / "README.md"
README_MARKERS = ("<!-- compatibility -->", "<!-- /compatibility -->")


def check_notebook(rehearsal: ColabRehearsal, path: Path, out_dir: Path, timeout: int | None = None) -> dict:
    """Rehearse ``path`` on the stand-in Colab and check it as the smoke tests do (:func:`smoke_checks.smoke_problems`):
    ``{"outcome": "ok" | "failed", "seconds", "failure": its first line or None, "details"}``."""
    start = time.perf_counter()
    try:
        run = rehearsal.run(path, out_dir, timeout=timeout)
    except RehearsalError as error:
        executed = Path(out_dir) / path.name
        timed_out = _timed_out(nbkit.read(executed), timeout) if timeout and executed.exists() else []
        return {"outcome": "failed", "seconds": round(time.perf_counter() - start, 1),
                "failure": str(error).splitlines()[0], "details": "; ".join(timed_out) or None}
    problems = smoke_checks.smoke_problems(nbkit.read(path), nbkit.read(run["executed"]))
    return {"outcome": "failed" if problems else "ok", "seconds": round(run["seconds"], 1),
            "failure": f"{path.name}: {problems[0].splitlines()[0]}" if problems else None,
            "details": "\n".join(problems)[:3000] if problems else None}


def _timed_out(executed, timeout: int) -> list[str]:
    """The cells of an executed copy that ran into the per-cell ``timeout``: nbclient then interrupts the kernel,
    and code that handles the interrupt (``cu.fit`` returns the history so far) may fail further on."""
    return [f"cell {number} ({first[:40]}) reached the {timeout} s cell timeout and was interrupted"
            for number, cell, first in execute.numbered_cells(executed)
            if (cell.get("metadata", {}).get("papermill", {}).get("duration") or 0) >= timeout]


def key_versions(installed: dict[str, str], root: Path = REPO) -> dict[str, str]:
    """The versions of the course's dependencies and of the rehearsal's kernel, in pyproject.toml's order."""
    names = [_requirement_name(r) for r in course_dependencies(root)] + list(HARNESS)
    return {name: installed.get(name, "not installed") for name in names}


def record_compatibility(versions: str, rehearsal: ColabRehearsal, outcomes: dict[str, dict], command: str,
                         path: Path = COMPATIBILITY, today: str | None = None, note: str | None = None) -> dict:
    """Write a version set's run into ``path`` (JSON) and render it (``compatibility.md`` beside it, README's
    block); return the whole record. Each version set has one entry (the latest run's environment) whose
    ``notebooks`` each carry their own date, run mode and torch/torchvision versions, so that a run of some
    notebooks updates only theirs."""
    today = today or date.today().isoformat()
    record = json.loads(path.read_text()) if path.exists() else {}
    installed = rehearsal.installed()
    key = key_versions(installed)
    entry = record.get(versions, {})
    entry.update({
        "versions": VERSION_SETS[versions],
        "date": today,
        "command": command,
        "run_mode": "smoke",
        "note": note,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPU cores, "
                   + ("an NVIDIA GPU" if shutil.which("nvidia-smi") else "no GPU"),
        "pip_constraints": machine_pip_constraints(),
        "installed": key,
        "environment": rehearsal.environment_info(),
        "resolved": dict(sorted(installed.items())),
    })
    notebooks = entry.get("notebooks", {})
    for stem, outcome in outcomes.items():
        notebooks[stem] = {**outcome, "date": today, "run_mode": "smoke", "torch": key["torch"],
                           "torchvision": key["torchvision"]}
    entry["notebooks"] = dict(sorted(notebooks.items()))
    record[versions] = entry
    record = {name: record[name] for name in VERSION_SETS if name in record}
    path.write_text(json.dumps(record, indent=1) + "\n")
    path.with_suffix(".md").write_text(compatibility_markdown(record))
    if path == COMPATIBILITY and README.exists():
        README.write_text(render_readme(README.read_text(), record))
    return record


def unverified_bounds(record: dict, root: Path = REPO) -> list[str]:
    """What the record's oldest rehearsal does not back of pyproject.toml's dependencies: one whose version in that
    run does not satisfy its declared range, a torch or torchvision lower bound whose release (major.minor) is not
    the one that ran, or a notebook that did not pass. Empty when the declared lower bounds are the verified ones."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    entry = record.get("oldest")
    if not entry:
        return ["no oldest-versions rehearsal is recorded: python -m tools.rehearse colab --versions oldest"]
    problems = []
    for text in course_dependencies(root):
        requirement = Requirement(text)
        name = _normal(requirement.name)
        ran = entry["installed"].get(name)
        if ran is None or ran not in requirement.specifier:
            problems.append(f"{text}: the oldest rehearsal ran {name} {ran}, outside the declared range")
            continue
        lower = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if name in ("torch", "torchvision") and lower and Version(ran).release[:2] != Version(lower[0]).release[:2]:
            problems.append(f"{text}: the oldest rehearsal ran {name} {ran}, not the declared lower bound")
    problems += [f"{stem} failed in the oldest rehearsal ({outcome['date']}): {outcome['failure']}"
                 for stem, outcome in entry["notebooks"].items() if outcome["outcome"] != "ok"]
    return problems


def _cell(outcome: dict | None) -> str:
    if outcome is None:
        return "not run"
    if outcome["outcome"] == "ok":
        return f"ok, {outcome['seconds']:.0f} s"
    return f"**failed** ({outcome['seconds']:.0f} s)"


def compatibility_markdown(record: dict) -> str:
    """benchmarks/results/compatibility.md: the record as tables (rendered, never edited by hand)."""
    sets = list(record)
    lines = ["# Compatibility record", "",
             "Rendered from `compatibility.json` by `python -m tools.rehearse colab --versions SET` "
             "(tools/rehearse.py), which writes both. Each notebook ran alone in smoke mode in the Colab rehearsal "
             "(an empty folder, course_utils installed by its setup cell), with the versions of each set, and was "
             "checked as the smoke tests check it (errors, `# NBVAL_CHECK_OUTPUT` cells, figures, results above "
             "chance).", ""]
    for name in sets:
        entry = record[name]
        held = ", ".join(entry.get("pip_constraints") or []) or "nothing"
        lines.append(f"- **{name}**: {entry['versions']}. Run on {entry['date']} with Python {entry['python']} "
                     f"({entry['machine']})" + (f"; pip's configuration there held back: {held}" if name == "newest"
                                                else "") + "." + (f" {entry['note']}" if entry.get("note") else ""))
    head = "| " + " | ".join(["", *sets]) + " |"
    rule = "| " + " | ".join(["---"] * (len(sets) + 1)) + " |"
    lines += ["", "## Versions installed", "", head.replace("|  |", "| package |", 1), rule]
    names = list(dict.fromkeys(n for name in sets for n in record[name]["installed"]))
    lines += [f"| {n} | " + " | ".join(record[name]["installed"].get(n, "–") for name in sets) + " |" for n in names]
    lines += ["", "## Notebooks (smoke mode, seconds of the whole run including the setup cell's install)", "",
              head.replace("|  |", "| notebook |", 1), rule]
    stems = sorted({stem for name in sets for stem in record[name]["notebooks"]})
    lines += [f"| {stem} | " + " | ".join(_cell(record[name]["notebooks"].get(stem)) for name in sets) + " |"
              for stem in stems]
    failures = [(name, stem, outcome) for name in sets for stem, outcome in record[name]["notebooks"].items()
                if outcome["outcome"] != "ok"]
    if failures:
        lines += ["", "## Failures", ""]
        lines += [f"- {name}, {stem} ({o['date']}): `{o['failure']}`"
                  + (f" ({o['details'].splitlines()[0]})" if o.get("details") else "") for name, stem, o in failures]
    lines += ["", "## The environments", "", head.replace("|  |", "| |", 1), rule]
    info = {name: record[name].get("environment") or {} for name in sets}
    lines.append("| built on | " + " | ".join(info[name].get("built", "–") for name in sets) + " |")
    lines.append("| build time (download and install) | "
                 + " | ".join(f"{info[name]['seconds']} s" if "seconds" in info[name] else "–" for name in sets) + " |")
    lines.append("| size on disk | " + " | ".join(f"{info[name]['size_mb'] / 1000:.1f} GB" if "size_mb" in info[name]
                                                 else "–" for name in sets) + " |")
    lines.append("| packages | " + " | ".join(str(len(record[name]["resolved"])) for name in sets) + " |")
    lines += ["", "Every installed version is in `compatibility.json` (`resolved`).", ""]
    return "\n".join(lines)


def readme_block(record: dict) -> str:
    """README's ``compatibility`` block: the torch and torchvision versions the rehearsals verified, and when."""
    sentences = []
    for name in ("oldest", "newest"):
        entry = record.get(name)
        if not entry:
            continue
        outcomes = list(entry["notebooks"].values())
        ok = sum(o["outcome"] == "ok" for o in outcomes)
        done = f"all {len(outcomes)} notebooks passed" if ok == len(outcomes) else \
            f"{ok} of {len(outcomes)} notebooks passed"
        python = ".".join(entry["python"].split(".")[:2])
        what = {"oldest": f"the oldest versions pyproject.toml allows that have wheels for Python {python}",
                "newest": "the newest releases pip installed"}[name]
        cap = [c for c in entry.get("pip_constraints") or [] if _requirement_name(c) in ("torch", "torchvision")]
        held = f", held back by the machine's pip configuration to {' and '.join(cap)}" if cap and name == "newest" \
            else ""
        sentences.append(f"with {what} (torch {entry['installed']['torch']}, torchvision "
                         f"{entry['installed']['torchvision']}{held}; {entry['date']}): {done}")
    if not sentences:
        return "No version rehearsal recorded yet (`python -m tools.rehearse colab --versions oldest|newest`)."
    return ("Each notebook ran alone in smoke mode, as on Colab, "
            + "; and ".join(sentences) + ". Details: "
            "[benchmarks/results/compatibility.md](benchmarks/results/compatibility.md).")


def render_readme(readme: str, record: dict) -> str:
    start, end = README_MARKERS
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(readme):
        raise RehearsalError(f"README.md needs the markers {start} ... {end} for the verified versions")
    return pattern.sub(lambda _: f"{start}\n{readme_block(record)}\n{end}", readme)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("colab", "full-shape", "prepare"))
    parser.add_argument("notebooks", nargs="*", help="numbers (05), stems or paths; default: every notebook")
    parser.add_argument("--timeout", type=int, default=None,
                        help="seconds one cell may run (default: no limit; the tests allow 300 s, pyproject.toml's "
                             "--nbval-cell-timeout)")
    parser.add_argument("--versions", choices=tuple(VERSION_SETS), default=None,
                        help="the Colab environment's version set (default: pinned, .ci/constraints.txt); given, the "
                             "run also checks each notebook as the smoke tests do and records the outcome in "
                             "benchmarks/results/compatibility.json")
    parser.add_argument("--note", default=None, help="with --versions: a sentence on the run's circumstances, kept "
                                                     "in the record (e.g. where its data came from)")
    args = parser.parse_args(argv)
    if args.versions and args.what == "full-shape":
        parser.error("--versions applies to the Colab rehearsal (colab, prepare), not to full-shape")
    paths = nbkit.select(args.notebooks)
    start = time.perf_counter()
    failed = []
    versions = args.versions or "pinned"
    if args.what == "prepare":
        with ColabRehearsal(versions=versions):
            print(f"the Colab rehearsal environment is ready ({time.perf_counter() - start:.0f} s)")
        return 0
    if args.what == "colab" and args.versions:
        with ColabRehearsal(versions=versions) as rehearsal:
            print(f"setup: {time.perf_counter() - start:.1f} s", flush=True)
            outcomes = {}
            for path in paths:
                outcomes[path.stem] = check_notebook(rehearsal, path, ARTIFACTS / f"colab_{versions}", args.timeout)
                outcome = outcomes[path.stem]
                if outcome["outcome"] != "ok":
                    failed.append(path.name)
                print(f"{path.name}: {outcome['outcome']}, {outcome['seconds']:.1f} s"
                      + (f"\nFAILED {outcome['failure']}" + (f"\n{outcome['details']}" if outcome["details"] else "")
                         if outcome["failure"] else ""), flush=True)
            command = shlex.join(["python", "-m", "tools.rehearse", "colab", *args.notebooks, "--versions", versions,
                                  *(["--timeout", str(args.timeout)] if args.timeout else [])])
            record = record_compatibility(versions, rehearsal, outcomes, command, note=args.note)
            print(f"recorded in {COMPATIBILITY.relative_to(REPO)}: "
                  + ", ".join(f"{n} {v}" for n, v in record[versions]["installed"].items()))
    elif args.what == "colab":
        with ColabRehearsal() as rehearsal:
            print(f"setup: {time.perf_counter() - start:.1f} s", flush=True)
            for path in paths:
                try:
                    run = rehearsal.run(path, timeout=args.timeout)
                    print(f"{path.name}: {run['seconds']:.1f} s, kernel CPU {run['probe']['cpu_seconds']:.1f} s",
                          flush=True)
                except RehearsalError as error:
                    failed.append(path.name)
                    print(f"FAILED {error}", flush=True)
    else:
        for path in paths:
            try:
                run = full_shape(path, timeout=args.timeout)
                print(f"{path.name}: {run['seconds']:.1f} s, kernel CPU {run['probe']['cpu_seconds']:.1f} s, "
                      f"FULL_SIZE {run['probe'].get('FULL_SIZE')!r}", flush=True)
            except RehearsalError as error:
                failed.append(path.name)
                print(f"FAILED {error}", flush=True)
    print(f"total: {time.perf_counter() - start:.1f} s" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
