"""Rehearse, on this machine, the two launch paths that the plain smoke tests do not take.

    python -m tools.rehearse colab              # every notebook as on Colab: alone, course_utils from its setup cell
    python -m tools.rehearse colab 05 07        # some notebooks (numbers, stems or paths)
    python -m tools.rehearse full-shape         # every notebook in full mode, data-size knobs turned down
    python -m tools.rehearse prepare            # only build (or find) the cached Colab environment (.ci/run)

Both print each notebook's time and keep the executed copies in ``artifacts/rehearsal/``. The tests
(``tests/test_rehearsals.py``) run the same functions.

**Colab** (:func:`colab`). On Colab a notebook arrives alone: no repository, no ``data/``, only what
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
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

try:
    from tools import nbkit
except ModuleNotFoundError as error:  # run as a file, without the repository root on sys.path
    raise SystemExit(f"{error}: run this from the repository root as python -m tools.rehearse") from None

REPO = nbkit.REPO
ARTIFACTS = REPO / "artifacts" / "rehearsal"
CONSTRAINTS = REPO / ".ci" / "constraints.txt"

# What Colab preinstalls that the course uses (course_utils' dependencies and the notebooks' imports),
# plus the Jupyter kernel. Colab has many more packages; anything else a notebook needs must come
# from course_utils' own dependencies.
COLAB_PACKAGES = ("torch", "torchvision", "numpy", "pandas", "matplotlib", "scikit-learn", "tqdm", "ipywidgets",
                  "psutil", "ipykernel")

# The full-shape rehearsal runs full mode with every data-size knob turned down: the knobs of the parameters cell
# that hold one value per run mode (``EPOCHS = {"smoke": 1, "fast": 4, "full": 30}``, read by cu.RunSettings) and
# whose name says they count images, epochs or steps. Each takes its smoke value, or the smaller value below where
# full mode's shapes (widths, batch sizes, input sizes) make the smoke size too slow for the CI's budget.
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
    "07_resnet": {"EPOCHS": 1, "TRAIN_IMAGES": 512, "VAL_IMAGES": 100, "TEST_IMAGES": 100, "EXERCISE_STEPS": 2},
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
    error = nbkit.first_error(nbkit.read(executed)) if executed.exists() else None
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
        nb = nbkit.execute(path, out, parameters, **kwargs)
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


def base_environment(log=print) -> Path:
    """The cached virtual environment with Colab's preinstalled packages (built when missing or stale)."""
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    venv = cache_dir() / f"colab-{_key(python_version, ' '.join(COLAB_PACKAGES))}"

    def ready() -> bool:
        return (venv / "ready").exists() and not stale_pins(venv, CONSTRAINTS.read_text())

    if ready():
        return venv
    with nbkit.locked(cache_dir() / "build.lock"):
        if ready():
            return venv
        if (venv / "ready").exists():
            log(f"the rehearsal environment is stale: {', '.join(stale_pins(venv, CONSTRAINTS.read_text()))}")
        for stale in cache_dir().glob("colab-*"):  # one venv of several GB is enough
            log(f"removing the stale rehearsal environment {stale}")
            shutil.rmtree(stale, ignore_errors=True)
        log(f"building the Colab rehearsal environment in {venv} (once per Python and package versions: several GB)")
        start = time.perf_counter()
        base_python = Path(getattr(sys, "_base_executable", sys.executable))
        subprocess.run([str(base_python), "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        _pip(python, "install", "--upgrade", "pip")
        _pip(python, "install", "-c", str(CONSTRAINTS), *COLAB_PACKAGES)
        frozen = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True, check=True)
        (venv / "preinstalled.txt").write_text(frozen.stdout)
        (venv / "ready").write_text(f"built in {time.perf_counter() - start:.0f} s\n")
        log(f"built in {time.perf_counter() - start:.0f} s")
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


def wheelhouse(venv: Path, project: Path, log=print) -> Path:
    """Wheels that ``pip install`` of course_utils needs and the cached environment lacks: the build
    backend and the dependencies Colab does not preinstall. Prepared with the machine's package index,
    cached next to the environment under a key of pyproject.toml's dependencies and build requirements."""
    import tomllib

    config = tomllib.loads((project / "pyproject.toml").read_text())
    requires = config["build-system"]["requires"]
    key = _key(json.dumps(config["project"]["dependencies"]), json.dumps(requires))
    folder = venv / f"wheelhouse-{key}"
    if (folder / "ready").exists():
        return folder
    with nbkit.locked(venv / "wheelhouse.lock"):
        if (folder / "ready").exists():
            return folder
        log(f"preparing the wheelhouse {folder}")
        for old in venv.glob("wheelhouse-*"):  # an earlier pyproject.toml's: a few MB each, never read again
            shutil.rmtree(old, ignore_errors=True)
        python = venv / "bin" / "python"
        report = folder / "report.json"
        folder.mkdir(parents=True)
        _pip(python, "install", "--dry-run", "--report", str(report), "-c", str(CONSTRAINTS), str(project))
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

    def __init__(self, log=print):
        self.log = log
        self.slug, self.ref = nbkit.repository()
        self.venv = base_environment(log)
        self._tmp = Path(tempfile.mkdtemp(prefix="colab_rehearsal_"))
        self.snapshot = snapshot(self._tmp / "snapshot", self.ref)
        self.wheels = wheelhouse(self.venv, self.snapshot, log)
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


def colab(paths: list[Path], out_dir: Path = ARTIFACTS / "colab", log=print) -> dict[str, float]:
    """Rehearse ``paths`` on the stand-in Colab; return seconds per notebook."""
    seconds = {}
    with ColabRehearsal(log) as rehearsal:
        for path in paths:
            seconds[path.stem] = rehearsal.run(path, out_dir)["seconds"]
            log(f"{path.name}: {seconds[path.stem]:.1f} s")
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("colab", "full-shape", "prepare"))
    parser.add_argument("notebooks", nargs="*", help="numbers (05), stems or paths; default: every notebook")
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: none, as in the tests)")
    args = parser.parse_args(argv)
    paths = nbkit.select(args.notebooks)
    start = time.perf_counter()
    failed = []
    if args.what == "prepare":
        with ColabRehearsal():
            print(f"the Colab rehearsal environment is ready ({time.perf_counter() - start:.0f} s)")
        return 0
    if args.what == "colab":
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
