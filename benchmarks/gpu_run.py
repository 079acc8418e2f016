"""A short GPU window, turned into full-mode measurements: plan, pack, run on the GPU machine, merge.

Run from the repository root (the checkout that the device tool sends):

    python -m benchmarks.gpu_run plan                 # the dry run: commands, carry sizes, device-time estimates
    python -m benchmarks.gpu_run pack                 # copy the data archives and download the wheels (.gpu_run/)
    python -m benchmarks.gpu_run plan --left 840      # the next commands for 840 s of device time left
    #   ... paste each printed {"command", "carry", "timeout_s"} into the device tool's run ...
    python -m benchmarks.gpu_run merge FILES_AT       # the returned files -> benchmarks/results/*.json
    python -m tools.sync_notebooks                    # then render the runtime lines and README's tables

What the GPU machine gives (the device tool's README and its KINDS.md): at most 10 minutes per command,
15 minutes of device time per session with a minute or more to start a machine, at most 64 MiB per command
of the working tree and the carried paths together, commands of at most 2000 characters, at most 8 carried
paths, 8 files back. It has Python 3.12, PyTorch and the packages that KINDS.md lists, but no Jupyter kernel
and no papermill, and nothing can be downloaded there. So:

- ``plan`` orders the work (notebooks 02, 03, 04, 05, 06, 09, 10 in full mode, then reruns of 01, 07, 08,
  then the cifar10_speed.py variants, ``WORK``), leaves out what ``benchmarks/results`` already records
  for the current code, groups the rest into commands whose carry fits (the CIFAR-100 archive alone
  nearly fills a command, so notebook 04 has its own; 06 needs CIFAR-10 and CIFAR-100, which never fit
  together: its command carries CIFAR-10 and must follow, on the same warm machine, a command that
  materialized CIFAR-100), estimates each command's device time and prints the device tool's arguments;
- ``pack`` copies the archives from the shared dataset folder and downloads the wheels named in
  ``benchmarks/gpu_wheels.txt`` (pinned to ``.ci/constraints.txt``'s versions, hashes checked) into the
  git-ignored ``.gpu_run/``, then checks that every requirement of every wheel is either carried, already
  on the machine (``ON_GPU_MACHINE``) or knowingly left out (``LEFT_OUT``);
- ``device`` (run on the GPU machine by the printed command) materializes the data, caps the kernel's
  threads, runs one notebook at a time through ``benchmarks/notebook_resources.py`` in a child process
  that is stopped at the command's time budget, writes each result to ``$OUT`` as soon as it exists, with
  the hashes of the notebook's code cells and of course_utils, and skips what is recorded for that code;
- ``merge`` puts the returned results into ``benchmarks/results/notebook_resources_<mode>.json`` and
  ``cifar10_speed.json`` (executed notebooks, logs and profiles go to ``artifacts/gpu_run/``).

tests/test_gpu_run.py rehearses all of it on the CPU: the plan against the limits, and a smoke-mode run of
one notebook through ``device`` and ``merge``.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

try:
    from tools import execute, nbkit
    from tools.paths import CONSTRAINTS, REPO, RESULTS_DIR
except ModuleNotFoundError as error:  # run as a file, without the repository root on sys.path
    raise SystemExit(f"{error}: run this from the repository root as python -m benchmarks.gpu_run") from None

RESULTS = RESULTS_DIR  # (tests copy it)
PACK = REPO / ".gpu_run"  # git-ignored (.gitignore): what the commands carry
MANIFEST = REPO / "benchmarks" / "gpu_wheels.txt"
ARTIFACTS = REPO / "artifacts" / "gpu_run"
MIB = 2**20

# The device tool's limits (its README) and what a window costs besides the commands.
CARRY_LIMIT = 64 * MIB  # the working tree and the carried paths, per command
COMMAND_CHARS = 2000
CARRY_PATHS = 8
COMMAND_LIMIT_S = 600
SESSION_S = 900  # device time per session, start-up and idle time included
START_S = 90  # a fresh machine: "a minute or more" (README); an estimate
END_S = 30  # a machine stays warm (and counted) 30 s after a call unless given back
TRANSFER_S = 15  # sending the tree and carry, fetching $OUT: an estimate
SAFETY_S = 60
DEFAULT_BUDGET_S = 330  # notebook time per command: two commands and a start fit in one session
MAX_BUDGET_S = 420  # so that budget + set-up (+ margin) stays well under the 600 s per command

# The GPU machine (the device tool's KINDS.md): its Python, and the packages its image holds (read there
# on 2026-11-17).
GPU_PYTHON = "3.12"
GPU_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_26_x86_64", "manylinux_2_17_x86_64",
                 "manylinux2014_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64")
_ON_GPU_MACHINE = """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl
zipp"""
ON_GPU_MACHINE = frozenset(_ON_GPU_MACHINE.split())
# Declared requirements that are not carried, to keep the carry small. Each is imported only when present
# (rehearsed with a kernel that lacked them: benchmarks/README.md, "GPU runbook").
LEFT_OUT = {
    "debugpy": "ipykernel's debugger: ipykernel/debugger.py imports it inside try/except (5.4 MB)",
    "jedi": "IPython's tab completion: IPython/core/completer.py imports it only when found (4.9 MB)",
    "parso": "jedi's parser",
    "widgetsnbextension": "ipywidgets' front-end extension for the classic notebook, never imported by the kernel",
    "jupyterlab-widgets": "ipywidgets' JupyterLab extension, never imported by the kernel",
}
# Packages published only as source: built into a wheel here by pack (name==version: the sdist's sha256).
SDISTS = {"airbench==0.1.8": "f85885d8afe9018b8da132a4224ad7b47d75c9f99fd985d0a687567a25cf4a33"}
SDIST_WHEEL_BYTES = 17_000  # airbench's built wheel, for the dry run before pack

# The shared offline datasets (see their README.md): what each needs carried, and the file materialize.py
# writes last (the data set is ready when it exists).
DATASETS = {
    "cifar10": (("cifar10-jpeg.tar.gz",), "cifar-10-batches-py/test_batch"),
    "cifar100": (("cifar100-images.tar.gz", "cifar100_coarse.txt"), "cifar-100-python/meta"),
    "fashion_mnist": (tuple(f"FashionMNIST/raw/{n}-ubyte.gz" for n in ("t10k-images-idx3", "t10k-labels-idx1",
                                                                      "train-images-idx3", "train-labels-idx1")),
                      "FashionMNIST/raw/train-labels-idx1-ubyte"),
}
MATERIALIZE = "materialize.py"
DEVICE_DATA_ROOT = "/tmp/course_data"
DEVICE_STATE = "/tmp/gpu_run_state"  # what earlier commands on the same (warm) machine recorded
SETUP_S = {"wheels": 15, "cifar10": 25, "cifar100": 35, "fashion_mnist": 5}  # install, materialize: estimates


@dataclass(frozen=True)
class Work:
    """One piece of work: a notebook (``key`` its number) or the speed benchmark (``key`` "speed")."""
    key: str
    data: tuple[str, ...]
    guess_s: int
    basis: str


# The order of the window's work (issue 25): notebooks without a full-mode record, then the reruns, then the
# speed benchmark. Device times are guesses until measured; a recorded GPU run replaces them (estimate()).
WORK = (
    Work("02", ("cifar10",), 90, "guess: its full mode took 66 s on the 2-core CPU machine"),
    Work("03", ("cifar10",), 300, "guess: did not finish in 330 s on the H200 (LeNet, per-image transforms in the "
                                  "main process); NUM_WORKERS now 4 on a GPU"),
    Work("04", ("cifar100",), 420, "guess: 30 + 10 epochs on 45000 images; training batches from cu.GPULoader"),
    Work("05", ("cifar10",), 300, "guess: VGG, 30 epochs on 45000 images; training batches from cu.GPULoader"),
    Work("06", ("cifar10", "cifar100"), 240, "guess: 30 epochs on GPU tensors, ResNet-18 runs at 224 px"),
    Work("09", ("fashion_mnist",), 300, "guess: the same-steps runs pass about 100 epochs of batches, most of them "
                                         "unlabeled ones that the DataLoader still makes and the loop skips"),
    Work("10", ("fashion_mnist",), 400, "guess: with 1 GPU the notebook trains with 2 processes on the CPU, and "
                                         "its speed section adds 1 process on the GPU"),
    Work("01", ("cifar10", "fashion_mnist"), 25, "guess"),
    Work("07", ("cifar10",), 65, "guess"),
    Work("08", ("fashion_mnist",), 330, "guess: the 2026-11-26 H200 record (134 s) trained each CNN once; section 7 "
                                        "now trains each with COMPARE_SEEDS = 3 seeds"),
    Work("speed", ("cifar10",), 420, "guess: airbench94 and 6 variants x 3 runs, compilation, one profiled epoch"),
)
SPEED_VARIANTS = ("baseline", "epochs14", "epochs16", "compile", "compile_epochs16", "batch1024")


class RunbookError(Exception):
    """A plan, pack or merge that cannot work: the message says what to do."""


# -- what is recorded, for which code -------------------------------------------------------------------

def _sha256(chunks) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk if isinstance(chunk, bytes) else chunk.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def course_utils_sha256(root: Path = REPO) -> str:
    files = sorted((root / "course_utils").rglob("*.py"))
    return _sha256(item for path in files for item in (path.relative_to(root).as_posix(), path.read_bytes()))


def notebook_code(path: Path, root: Path = REPO) -> dict:
    """What a notebook's result depends on: the hash of its code cells, and of course_utils."""
    cells = nbkit.code_cells(nbkit.read(path))
    return {"notebook_code_sha256": _sha256(nbkit.source(cell) for cell in cells),
            "course_utils_sha256": course_utils_sha256(root)}


def speed_code(root: Path = REPO) -> dict:
    return {"cifar10_speed_sha256": _sha256([(root / "benchmarks" / "cifar10_speed.py").read_bytes()]),
            "course_utils_sha256": course_utils_sha256(root)}


def notebook_path(key: str, root: Path = REPO) -> Path:
    found = sorted((root / "notebooks").glob(f"{key}_*.ipynb"))
    if len(found) != 1:
        raise RunbookError(f"notebook {key}: expected one notebooks/{key}_*.ipynb, found {len(found)}")
    return found[0]


def _load(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as error:
        raise RunbookError(f"{path}: not valid JSON ({error}); restore it from git") from error


def _write(path: Path, data: dict) -> None:
    """Write JSON atomically (a file fetched or killed mid-write is never half written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def recorded(results_dir: Path, mode: str, extra: tuple[Path, ...] = ()) -> tuple[dict, dict]:
    """(notebook entries by stem, {"variants": speed variants by name, "profile": ...}): the results files,
    then ``extra`` files (what earlier commands returned) on top of them."""
    notebooks = dict(_load(Path(results_dir) / f"notebook_resources_{mode}.json").get("notebooks") or {})
    speed_file = _load(Path(results_dir) / "cifar10_speed.json")
    speed = {"variants": dict(speed_file.get("variants") or {}), "profile": speed_file.get("profile")}
    for path in extra:
        data = _load(path)
        if data.get("mode", mode) == mode:
            for stem, entry in (data.get("notebooks") or {}).items():
                if entry.get("status") == "ok" or (notebooks.get(stem) or {}).get("status") != "ok":
                    notebooks[stem] = entry
        speed["variants"].update(data.get("variants") or {})
        speed["profile"] = data.get("profile") or speed["profile"]
    return notebooks, speed


def current(entry: dict | None, code: dict, mode: str) -> bool:
    """Whether ``entry`` is a finished run of this code (in full mode: on a GPU)."""
    return bool(entry and entry.get("status") == "ok" and entry.get("code") == code
                and (mode != "full" or entry.get("gpu")))


def speed_todo(speed: dict, code: dict, wanted=SPEED_VARIANTS) -> tuple[list[str], bool]:
    """(variants not yet recorded for this code, whether the profile still has to be made)."""
    todo = [name for name in wanted if (speed["variants"].get(name) or {}).get("code") != code]
    return todo, (speed["profile"] or {}).get("code") != code


def estimate(work: Work, notebooks: dict, root: Path = REPO) -> tuple[int, str]:
    """(seconds, basis) for ``work``: longer than an attempt stopped at its budget, else a recorded full-mode
    GPU run of the notebook (any code) + 10% or the guess, whichever is longer (a guess can know that the
    code has grown since the recorded run), else the guess."""
    if work.key != "speed":
        entry = notebooks.get(notebook_path(work.key, root).stem) or {}
        attempt = entry.get("last_attempt") or (entry if entry.get("status") != "ok" else {})
        if attempt.get("stopped_at_budget"):
            seconds = max(work.guess_s, math.ceil(attempt["seconds"] * 1.5))
            return seconds, f"last attempt stopped at its budget after {attempt['seconds']:.0f} s, x1.5"
        if entry.get("status") == "ok" and entry.get("gpu"):
            seconds = math.ceil(round(entry["seconds"] * 1.1, 6))  # 400 * 1.1 is 440.00000000000006
            if seconds >= work.guess_s:
                return seconds, (f"recorded {entry['seconds']:.0f} s on {entry['gpu']} "
                                 f"({entry.get('measured_at', '?')[:10]}), +10%")
            return work.guess_s, f"{work.basis} (longer than the recorded run's {entry['seconds']:.0f} s + 10%)"
    return work.guess_s, work.basis


def remaining(results_dir: Path = RESULTS, mode: str = "full", root: Path = REPO, extra=()) -> tuple[list, dict]:
    """(the work not yet recorded for the current code, in WORK's order; notes on what is done or failed)."""
    notebooks, speed = recorded(results_dir, mode, extra)
    todo, notes = [], {}
    for work in WORK:
        if work.key == "speed":
            left, profile = speed_todo(speed, speed_code(root))
            if left or profile:
                todo.append(work)
            else:
                notes["speed"] = "done: every variant and the profile recorded for the current code"
            continue
        stem = notebook_path(work.key, root).stem
        entry = notebooks.get(stem)
        if current(entry, notebook_code(notebook_path(work.key, root), root), mode):
            notes[work.key] = f"done: {entry['seconds']:.0f} s on {entry['gpu']}, recorded for the current code"
            continue
        todo.append(work)
        if entry and entry.get("status") != "ok":
            notes[work.key] = f"last attempt {entry['status']}"
        elif entry:
            notes[work.key] = "recorded for other code: rerun" + (
                f"; last attempt {entry['last_attempt']['status']}" if entry.get("last_attempt") else "")
    return todo, notes


# -- sizes -------------------------------------------------------------------------------------------------

def shared_datasets() -> Path:
    """The folder of the offline dataset copies: $COURSE_SHARED/datasets, else ../shared/datasets (as .ci/run)."""
    base = Path(os.environ["COURSE_SHARED"]) if os.environ.get("COURSE_SHARED") else REPO.parent / "shared"
    return base / "datasets"


def tree_bytes(root: Path = REPO) -> int:
    """Bytes of the working tree that every call sends: tracked and untracked-not-ignored files, and shared/."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                                 capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise RunbookError(f"cannot list the working tree of {root} with git ({error}): run this in the checkout "
                           "that the device tool sends") from error
    paths = [root / os.fsdecode(p) for p in listing.split(b"\0") if p]
    total = sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink())
    shared = root / "shared"
    if shared.is_dir():
        total += sum(p.stat().st_size for p in shared.rglob("*") if p.is_file())
    return total


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def manifest(path: Path = MANIFEST) -> list[dict]:
    """The wheels of ``benchmarks/gpu_wheels.txt``: name, version, sha256, bytes (lines ``NAME==VERSION
    --hash=sha256:HEX  # bytes=N``)."""
    rows = []
    pattern = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)\s+--hash=sha256:([0-9a-f]{64})\s+#\s*bytes=(\d+)\s*$")
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = pattern.match(line)
        if not match:
            raise RunbookError(f"{path}:{number}: expected 'NAME==VERSION --hash=sha256:HEX  # bytes=N', got {line!r}")
        name, version, sha, size = match.groups()
        rows.append({"name": name, "version": version, "sha256": sha, "bytes": int(size)})
    return rows


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def sizes(pack: Path = PACK, shared: Path | None = None, root: Path = REPO) -> dict:
    """Bytes of what a command can carry (packed where packed, else what pack would copy) and of the tree."""
    shared = shared or shared_datasets()
    result = {"tree": tree_bytes(root), "packed": {}}
    wheels = pack / "wheels"
    if wheels.is_dir() and any(wheels.glob("*.whl")):
        result["wheels"], result["packed"]["wheels"] = folder_bytes(wheels), True
    else:
        result["wheels"] = sum(row["bytes"] for row in manifest()) + SDIST_WHEEL_BYTES * len(SDISTS)
        result["packed"]["wheels"] = False
    for name, (files, _) in DATASETS.items():
        folder = pack / "data" / name
        if folder.is_dir() and all((folder / f).is_file() for f in files):
            result[name], result["packed"][name] = folder_bytes(folder), True
            continue
        missing = [f for f in (*files, MATERIALIZE) if not (shared / f).is_file()]
        if missing:
            raise RunbookError(f"the shared datasets folder {shared} lacks {', '.join(missing)}: set COURSE_SHARED "
                               "to the folder that holds datasets/")
        result[name] = sum((shared / f).stat().st_size for f in (*files, MATERIALIZE))
        result["packed"][name] = False
    return result


# -- the plan ----------------------------------------------------------------------------------------------

@dataclass
class Command:
    work: list = field(default_factory=list)  # [(Work, seconds, basis)]
    data: list = field(default_factory=list)  # data sets it carries and materializes
    needs: list = field(default_factory=list)  # data sets an earlier command on the same machine materialized
    budget: int = DEFAULT_BUDGET_S

    @property
    def seconds(self) -> int:
        return sum(s for _, s, _ in self.work)

    @property
    def tag(self) -> str:
        keys = [w.key for w, _, _ in self.work]
        if not keys:
            return "prep-" + "-".join(self.data)
        notebooks = [k for k in keys if k != "speed"]
        return "-".join((["nb" + "-".join(notebooks)] if notebooks else []) + (["speed"] if "speed" in keys else []))

    def carry(self) -> list[str]:
        return [".gpu_run/wheels"] + [f".gpu_run/data/{name}" for name in self.data]

    def setup_s(self) -> int:
        return SETUP_S["wheels"] + sum(SETUP_S.get(name, 30) for name in self.data)

    def timeout_s(self) -> int:
        return self.budget + 2 * self.setup_s() + 30  # check_command: at most COMMAND_LIMIT_S

    def device_s(self) -> int:
        """Estimated device time of the call: set-up, the work (at most the budget), transfers."""
        return self.setup_s() + min(self.seconds, self.budget) + TRANSFER_S

    def shell(self, mode: str = "full") -> str:
        """The command string for the device tool's run."""
        keys = ",".join(w.key for w, _, _ in self.work) or "none"
        args = ["--out", '"$OUT"', "--tag", self.tag, "--budget", str(self.budget), "--items", keys]
        if self.data:
            args += ["--data", ",".join(self.data)]
        if self.needs:
            args += ["--needs", ",".join(self.needs)]
        if mode != "full":
            args += ["--mode", mode]
        return ("set -o pipefail; python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade "
                "--target /tmp/site .gpu_run/wheels/*.whl && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 "
                f"|| exit; python3 -m benchmarks.gpu_run device {' '.join(args)} 2>&1 "
                f"| tee \"$OUT/log-{self.tag}.txt\"")

    def run_args(self, mode: str = "full") -> dict:
        return {"command": self.shell(mode), "carry": self.carry(), "timeout_s": self.timeout_s()}


def carry_bytes(data, size: dict) -> int:
    return size["tree"] + size["wheels"] + sum(size[name] for name in data)


def _fits(data, size) -> bool:
    return carry_bytes(data, size) <= CARRY_LIMIT


def plan(todo: list[Work], notebooks: dict, size: dict, budget: int = DEFAULT_BUDGET_S,
         root: Path = REPO) -> list[Command]:
    """Group the work into commands, in order; first fit into earlier commands where carry and budget allow.

    Work whose data sets never fit one carry (06: CIFAR-10 and CIFAR-100) gets a command that carries what
    fits and, just before it, a command that only materializes the rest on the same machine."""
    commands: list[Command] = []
    for work in todo:
        seconds, basis = estimate(work, notebooks, root)
        entry = (work, seconds, basis)
        if _fits(work.data, size):
            for command in commands:
                data = sorted(set(command.data) | set(work.data))
                if not command.needs and _fits(data, size) and command.seconds + seconds <= command.budget:
                    command.work.append(entry)
                    command.data = data
                    break
            else:
                own = min(MAX_BUDGET_S, max(budget, math.ceil(seconds * 1.25)))
                commands.append(Command([entry], sorted(work.data), [], own))
            continue
        carried = list(work.data)
        needs = []
        for name in sorted(work.data, key=lambda n: size[n], reverse=True):
            if not _fits(carried, size):
                carried.remove(name)
                needs.append(name)
        if not carried and needs:
            raise RunbookError(f"{work.key}: none of its data sets fits a command with the working tree and wheels")
        for name in needs:
            if not _fits([name], size):
                raise RunbookError(f"{work.key}: the {name} archive alone does not fit a command with the working tree "
                                   f"and wheels ({carry_bytes([name], size) / MIB:.1f} MiB of {CARRY_LIMIT / MIB:.0f})")
        commands.append(Command([], sorted(needs), [], 0))
        own = min(MAX_BUDGET_S, max(budget, math.ceil(seconds * 1.25)))
        commands.append(Command([entry], sorted(carried), sorted(needs), own))
    return commands


def windows(commands: list[Command], left: int | None = None, warm: bool = False) -> list[list[int]]:
    """Indices of commands per session (first fit, in order): each session has SESSION_S of device time (the
    first ``left``), spends START_S to start a machine (not the first if ``warm``), END_S at the end and keeps
    SAFETY_S. A command that needs another's data stays right after it, in the same session."""
    units, index = [], 0
    while index < len(commands):
        if index + 1 < len(commands) and commands[index + 1].needs:
            units.append([index, index + 1])
            index += 2
        else:
            units.append([index])
            index += 1
    sessions: list[tuple[list[int], int]] = []  # (indices, seconds still free)
    for unit in units:
        cost = sum(commands[i].device_s() for i in unit)
        for k, (indices, free) in enumerate(sessions):
            if cost <= free:
                sessions[k] = (indices + unit, free - cost)
                break
        else:
            first = not sessions
            total = left if (first and left is not None) else SESSION_S
            free = total - (0 if (first and warm) else START_S) - END_S - SAFETY_S
            sessions.append((unit, free - cost))
    return [indices for indices, _ in sessions]


def check_command(command: Command, size: dict, mode: str = "full") -> list[str]:
    """What breaks a limit of the device tool (empty if nothing)."""
    problems = []
    shell = command.shell(mode)
    total = carry_bytes(command.data, size)
    if len(shell) > COMMAND_CHARS:
        problems.append(f"command of {len(shell)} characters (at most {COMMAND_CHARS})")
    if len(command.carry()) > CARRY_PATHS:
        problems.append(f"{len(command.carry())} carried paths (at most {CARRY_PATHS})")
    if total > CARRY_LIMIT:
        problems.append(f"carries {total / MIB:.1f} MiB with the working tree (at most {CARRY_LIMIT / MIB:.0f} MiB)")
    if command.timeout_s() > COMMAND_LIMIT_S:
        problems.append(f"timeout_s {command.timeout_s()} (at most {COMMAND_LIMIT_S})")
    return problems


def plan_report(results_dir: Path = RESULTS, pack: Path = PACK, shared: Path | None = None, budget=DEFAULT_BUDGET_S,
                left: int | None = None, warm: bool = False, mode: str = "full", root: Path = REPO) -> dict:
    """Everything ``plan`` prints, as data (tests/test_gpu_run.py reads it)."""
    size = sizes(pack, shared, root)
    todo, notes = remaining(results_dir, mode, root)
    notebooks, _ = recorded(results_dir, mode)
    commands = plan(todo, notebooks, size, budget, root)
    sessions = windows(commands, left, warm)
    problems = []
    if left is not None and sessions:  # the first session has only the device time left: cut its last budget
        free = left - (0 if warm else START_S) - END_S - SAFETY_S
        over = sum(commands[i].device_s() for i in sessions[0]) - free
        last = commands[sessions[0][-1]]
        if over > 0:
            last.budget = max(0, last.budget - over)
            if last.work and last.budget < 60:
                problems.append(f"{left} s of device time left is too little for command {sessions[0][-1] + 1} "
                                f"(a machine needs {START_S} s to start, and none starts with under 4 minutes left)")
    report = {"sizes": size, "notes": notes, "commands": [], "windows": sessions, "problems": problems, "warm": warm}
    for number, command in enumerate(commands, 1):
        problems = check_command(command, size, mode)
        report["problems"] += [f"command {number}: {p}" for p in problems]
        report["commands"].append({
            "number": number, "tag": command.tag, "budget_s": command.budget, "setup_s": command.setup_s(),
            "device_s": command.device_s(), "needs_warm_machine_with": command.needs,
            "work": [{"key": w.key, "seconds": s, "basis": b} for w, s, b in command.work],
            "carry_bytes": {path: size[path.rsplit("/", 1)[-1]] for path in command.carry()},
            "total_bytes": carry_bytes(command.data, size), "run": command.run_args(mode), "problems": problems,
            "not_packed": [path for path in command.carry() if not size["packed"][path.rsplit("/", 1)[-1]]],
        })
    return report


def print_plan(report: dict) -> None:
    size = report["sizes"]
    print(f"GPU window plan (benchmarks/gpu_run.py). Limits per command: {CARRY_LIMIT / MIB:.0f} MiB carried with "
          f"the working tree, {COMMAND_CHARS} characters, {CARRY_PATHS} carried paths, {COMMAND_LIMIT_S} s; "
          f"{SESSION_S} s of device time per session, about {START_S} s of it to start a machine.")
    print(f"working tree {size['tree'] / MIB:.1f} MiB; " + ", ".join(
        f"{name} {size[name] / MIB:.1f} MiB{'' if size['packed'][name] else ' (not packed yet)'}"
        for name in ("wheels", *DATASETS)))
    for key, note in report["notes"].items():
        print(f"  {key}: {note}")
    if not report["commands"]:
        print("Nothing left to run: every notebook and speed variant is recorded for the current code.")
        return
    for session, indices in enumerate(report["windows"], 1):
        total = sum(report["commands"][i]["device_s"] for i in indices)
        start = 0 if (session == 1 and report.get("warm")) else START_S
        print(f"\n== session {session}: commands {', '.join(str(i + 1) for i in indices)}; about {total} s of device "
              f"time for the commands, plus {start} s to start a machine (estimates)")
        for i in indices:
            command = report["commands"][i]
            print(f"\ncommand {command['number']} ({command['tag']}): budget {command['budget_s']} s of work, set-up "
                  f"about {command['setup_s']} s, device time about {command['device_s']} s")
            if command["needs_warm_machine_with"]:
                print(f"  RUN IT RIGHT AFTER command {command['number'] - 1}, on the same machine (it stays warm 30 s "
                      f"after a call): it needs the {', '.join(command['needs_warm_machine_with'])} data that command "
                      "materialized, and stops in seconds, saying so, on a fresh machine")
            for work in command["work"]:
                print(f"  {work['key']}: about {work['seconds']} s ({work['basis']})")
            if not command["work"]:
                print("  materializes the data only")
            print("  carry: " + ", ".join(f"{path} {n / MIB:.1f} MiB" for path, n in command["carry_bytes"].items())
                  + f"; with the working tree {command['total_bytes'] / MIB:.1f} MiB of {CARRY_LIMIT / MIB:.0f}")
            if command["not_packed"]:
                print(f"  NOT PACKED YET: {', '.join(command['not_packed'])} (python -m benchmarks.gpu_run pack)")
            for problem in command["problems"]:
                print(f"  PROBLEM: {problem}")
            print("  run: " + json.dumps(command["run"], ensure_ascii=False))
    print("\nAfter each call: python -m benchmarks.gpu_run merge <files_at of the reply>, then plan again "
          "(--left <budget_left_s> [--warm]) for the next command.")


# -- pack --------------------------------------------------------------------------------------------------

def pip_download_args(dest: Path) -> list[str]:
    args = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", GPU_PYTHON,
            "--implementation", "cp", "--require-hashes", "-d", str(dest)]
    for platform_tag in GPU_PLATFORMS:
        args += ["--platform", platform_tag]
    return args


def wheel_requirements(wheel: Path) -> tuple[str, list[str]]:
    """(the wheel's project name, its Requires-Dist lines)."""
    with zipfile.ZipFile(wheel) as archive:
        meta = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
        if meta is None:
            raise RunbookError(f"{wheel.name}: no .dist-info/METADATA inside; not a wheel")
        text = archive.read(meta).decode("utf-8", "replace")
    header = text.split("\n\n", 1)[0]
    name = re.search(r"^Name:\s*(\S+)", header, re.M)
    return (name.group(1) if name else wheel.name.split("-")[0],
            [line.split(":", 1)[1].strip() for line in header.splitlines() if line.startswith("Requires-Dist:")])


def missing_requirements(wheels, present=ON_GPU_MACHINE, left_out=LEFT_OUT, python=GPU_PYTHON) -> list[str]:
    """Requirements of the wheels (on the GPU machine's Python, Linux, no extras) that are neither carried,
    nor on the machine, nor knowingly left out. Names only: the machine's versions are not known here."""
    from packaging.requirements import Requirement

    env = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
    requirements = [wheel_requirements(Path(w)) for w in wheels]
    carried = {normalize(name) for name, _ in requirements}
    known = carried | {normalize(n) for n in present} | {normalize(n) for n in left_out}
    missing = []
    for name, lines in requirements:
        for line in lines:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate(env):
                continue
            if normalize(requirement.name) not in known:
                missing.append(f"{name} needs {requirement}")
    return missing


def constraints(path: Path = CONSTRAINTS) -> dict[str, str]:
    """CI's pinned versions, by normalized name."""
    pins = {}
    for line in Path(path).read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("#")[0].split("==")
            pins[normalize(name.strip())] = version.strip()
    return pins


def manifest_problems(path: Path = MANIFEST, pins: dict | None = None) -> list[str]:
    """What is wrong with the wheel manifest: versions other than CI's, a package twice, a package that the
    GPU machine already has (two versions stop the install), or one that LEFT_OUT leaves out."""
    pins = constraints() if pins is None else pins
    rows = manifest(path)
    names = [normalize(r["name"]) for r in rows]
    problems = [f"{n} is listed twice" for n in sorted({n for n in names if names.count(n) > 1})]
    problems += [f"{r['name']} {r['version']}: CI pins {pins.get(n)} (python -m benchmarks.gpu_run manifest)"
                 for r, n in zip(rows, names, strict=True) if pins.get(n) != r["version"]]
    problems += [f"{n} is on the GPU machine already" for n in names if n in {normalize(m) for m in ON_GPU_MACHINE}]
    problems += [f"{n} is in LEFT_OUT" for n in names if n in {normalize(m) for m in LEFT_OUT}]
    return problems


def update_manifest(path: Path = MANIFEST) -> None:
    """Rewrite the manifest's lines at CI's versions (.ci/constraints.txt), with the hashes and sizes of the
    wheels that pip downloads for the GPU machine (after a change to the constraints)."""
    text = Path(path).read_text()
    header = [line for line in text.splitlines() if line.startswith("#")]
    pins = constraints()
    names = [row["name"] for row in manifest(path)]
    unpinned = [n for n in names if normalize(n) not in pins]
    if unpinned:
        raise RunbookError(f"{', '.join(unpinned)}: not pinned in {CONSTRAINTS.name}; pin them there first")
    with tempfile.TemporaryDirectory() as tmp:
        args = [a for a in pip_download_args(Path(tmp)) if a != "--require-hashes"]
        subprocess.run([*args, "-q", *[f"{n}=={pins[normalize(n)]}" for n in names]], check=True)
        lines = []
        for name in names:
            wheel = next(w for w in Path(tmp).glob("*.whl") if normalize(w.name.split("-")[0]) == normalize(name))
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            lines.append(f"{name}=={pins[normalize(name)]} --hash=sha256:{digest}  # bytes={wheel.stat().st_size}")
    Path(path).write_text("\n".join(header + lines) + "\n")
    print(f"wrote {path}: {len(lines)} wheels")


def pack(data=tuple(DATASETS), wheels: bool = True, pack_dir: Path = PACK, shared: Path | None = None) -> None:
    """Copy the data archives (with materialize.py) and download the wheels into ``pack_dir``."""
    shared = shared or shared_datasets()
    for name in data:
        if name not in DATASETS:
            raise RunbookError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
        folder = pack_dir / "data" / name
        for rel in (*DATASETS[name][0], MATERIALIZE):
            src, dst = shared / rel, folder / rel
            if not src.is_file():
                raise RunbookError(f"{src} is missing: set COURSE_SHARED to the folder that holds datasets/")
            if dst.is_file() and dst.stat().st_size == src.stat().st_size:
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        print(f"packed {folder.relative_to(pack_dir.parent)}: {folder_bytes(folder) / MIB:.1f} MiB", flush=True)
    if not wheels:
        return
    dest = pack_dir / "wheels"
    rows = manifest()
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text("".join(f"{r['name']}=={r['version']} --hash=sha256:{r['sha256']}\n" for r in rows))
        fresh = Path(tmp) / "wheels"
        subprocess.run([*pip_download_args(fresh), "-q", "-r", str(requirements)], check=True)
        for spec, sha in SDISTS.items():
            source = Path(tmp) / "sdist"
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary=:all:", "-d",
                            str(source), spec], check=True)
            archive = next(source.iterdir())
            digest = hashlib.sha256(archive.read_bytes()).hexdigest()
            if digest != sha:
                raise RunbookError(f"{archive.name}: sha256 {digest}, expected {sha} (gpu_run.SDISTS)")
            subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(fresh), str(archive)],
                           check=True)
        got = sorted(fresh.glob("*.whl"))
        missing = missing_requirements(got)
        if missing:
            raise RunbookError("the wheels need packages that are neither carried nor on the GPU machine: "
                               + "; ".join(missing) + f". Add them to {MANIFEST.relative_to(REPO)} (or to LEFT_OUT, "
                               "with the reason, after a run without them)")
        for row in rows:
            found = [w for w in got if normalize(w.name.split("-")[0]) == normalize(row["name"])]
            if len(found) != 1 or found[0].stat().st_size != row["bytes"]:
                raise RunbookError(f"{row['name']}: downloaded {[w.name for w in found]}, expected one wheel of "
                                   f"{row['bytes']} bytes ({MANIFEST.name})")
        if dest.exists():
            shutil.rmtree(dest)  # never two versions of one package: the install would stop
        shutil.copytree(fresh, dest)
    print(f"packed .gpu_run/wheels: {len(got)} wheels, {folder_bytes(dest) / MIB:.1f} MiB", flush=True)


# -- on the GPU machine ------------------------------------------------------------------------------------

def _log(message: str) -> None:
    print(f"[gpu_run {time.strftime('%H:%M:%S')}] {message}", flush=True)


def materialize(names, pack_dir: Path, data_root: Path) -> dict:
    seconds = {}
    for name in names:
        script = pack_dir / "data" / name / MATERIALIZE
        if not script.is_file():
            raise RunbookError(f"{script} is missing: the command must carry .gpu_run/data/{name} (pack it first)")
        start = time.perf_counter()
        subprocess.run([sys.executable, str(script), str(data_root), "--only", name], check=True)
        seconds[name] = round(time.perf_counter() - start, 1)
        _log(f"materialized {name} in {seconds[name]} s")
    return seconds


def _kill_tree(process: subprocess.Popen) -> None:
    """Stop a child and everything it started (the Jupyter kernel runs in a session of its own)."""
    import psutil

    with contextlib.suppress(psutil.Error):
        family = psutil.Process(process.pid).children(recursive=True)
        for proc in [*family, psutil.Process(process.pid)]:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGKILL)
    process.wait()


def run_child(args: list[str], seconds: float) -> tuple[int | None, float]:
    """(exit code, or None if stopped at ``seconds``; wall seconds)."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.gpu_run", *args], cwd=REPO)
    try:
        code = process.wait(timeout=max(1.0, seconds))
    except subprocess.TimeoutExpired:
        _kill_tree(process)
        code = None
    return code, time.perf_counter() - start


def stopped_entry(path: Path, executed: Path, seconds: float, budget: float, mode: str) -> dict:
    from benchmarks import notebook_resources

    nb = nbkit.read(executed) if executed.exists() else None
    return {"status": f"failed: stopped at the command's time budget ({budget:.0f} s of work) after {seconds:.0f} s",
            "stopped_at_budget": True, "seconds": round(seconds, 1), "gpu": None, "mode": mode,
            "results": nbkit.results(nb) if nb else {}, "slowest_cells": execute.slowest_cells(nb) if nb else "",
            "hardware": notebook_resources.hardware(), "measured_at": notebook_resources.now()}


def device(args) -> int:
    out, pack_dir, data_root = Path(args.out), Path(args.pack_dir), Path(args.data_root)
    state = Path(args.state_dir)
    out.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    results_dir = Path(args.results_dir)
    import torch

    threads = args.threads or max(1, len(os.sched_getaffinity(0)) // 2)
    os.environ.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), COURSE_DATA_ROOT=str(data_root),
                      COURSE_ALLOW_UNVERIFIED_DATA="1", PYTHONUNBUFFERED="1")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    _log(f"python {sys.version.split()[0]}, torch {torch.__version__}, GPU {gpu}, {os.cpu_count()} CPUs; "
         f"kernels get OMP_NUM_THREADS={threads}; data root {data_root}; mode {args.mode}; budget {args.budget} s")
    if args.mode == "full" and gpu is None and not args.allow_cpu:
        _log("no CUDA GPU here: full-mode records need one (or --allow-cpu)")
        return 4
    for name in [d for d in args.needs.split(",") if d]:  # before anything else: on a fresh machine, stop now
        if not (data_root / DATASETS[name][1]).exists():
            _log(f"{name} is not materialized under {data_root}: this is a fresh machine. Run the command before this "
                 "one (it materializes it) and this one right after it, within 30 s, on the same machine")
            return 3
    data_seconds = materialize([d for d in args.data.split(",") if d], pack_dir, data_root)
    tag = args.tag
    out_file, state_file = out / f"notebooks-{tag}.json", state / f"notebooks-{tag}.json"
    executed_dir = state / f"executed-{tag}"
    executed_dir.mkdir(parents=True, exist_ok=True)
    earlier = tuple(sorted([*state.glob("notebooks-*.json"), *state.glob("speed-*.json")]))
    notebooks, speed = recorded(results_dir, args.mode, earlier)
    runbook = {"tag": tag, "budget_s": args.budget, "omp_num_threads": threads, "materialize_seconds": data_seconds}
    output = _load(state_file) if state_file in earlier else {}
    output = {"mode": args.mode, "runbook": runbook, "notebooks": output.get("notebooks", {})}
    deadline = time.perf_counter() + args.budget
    ran_any, failed = False, []
    works = {w.key: w for w in WORK}
    for key in [k for k in args.items.split(",") if k and k != "none"]:
        if key not in works:
            raise RunbookError(f"unknown item {key!r}; choose from {', '.join(works)}")
        left = deadline - time.perf_counter()
        if key == "speed":
            status = run_speed(args, out, state, speed, left)
            ran_any |= status != "skipped"
            if status not in ("ok", "skipped"):
                failed.append(f"speed ({status})")
            continue
        path = notebook_path(key)
        code = notebook_code(path)
        if current(notebooks.get(path.stem), code, args.mode):
            _log(f"{path.stem}: already recorded for this code, skipped")
            continue
        seconds, basis = estimate(works[key], notebooks)
        if ran_any and seconds > left:
            _log(f"{path.stem}: about {seconds} s ({basis}), {left:.0f} s of the budget left: for a later command")
            continue
        _log(f"{path.stem}: running in {args.mode} mode, at most {left:.0f} s ...")
        executed = executed_dir / path.name
        result = state / f".{path.stem}.entry.json"
        result.unlink(missing_ok=True)
        exit_code, wall = run_child(["_measure", str(path), "--mode", args.mode, "--executed", str(executed),
                                     "--result", str(result)], left)
        ran_any = True
        if exit_code is None:
            entry = stopped_entry(path, executed, wall, args.budget, args.mode)
        elif result.exists():
            entry = json.loads(result.read_text())
            entry["slowest_cells"] = execute.slowest_cells(nbkit.read(executed)) if executed.exists() else ""
        else:
            from benchmarks import notebook_resources

            entry = {"status": f"failed: the measuring process exited with {exit_code}", "seconds": round(wall, 1),
                     "gpu": None, "results": {}, "hardware": notebook_resources.hardware(),
                     "measured_at": notebook_resources.now()}
        entry.update(code=code, runbook={k: runbook[k] for k in ("tag", "budget_s", "omp_num_threads")})
        output["notebooks"][path.stem] = notebooks[path.stem] = entry
        _write(out_file, output)
        _write(state_file, output)
        with tarfile.open(out / f"executed-{tag}.tar.gz", "w:gz") as archive:
            for notebook in sorted(executed_dir.glob("*.ipynb")):
                archive.add(notebook, arcname=notebook.name)
        _log(f"{path.stem}: {entry['status']}, {entry['seconds']} s, GPU peak {entry.get('gpu_peak_mib')} MiB; "
             f"slowest cells: {entry.get('slowest_cells')}")
        if entry["status"] != "ok":
            failed.append(path.stem)
    _log("done" + (f"; not ok: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def run_speed(args, out: Path, state: Path, speed: dict, left: float) -> str:
    """cifar10_speed.py's variants not yet recorded for this code (and the baseline again, as the session's
    reference), and the profile, in a child stopped at the budget. Its files go to $OUT/speed-TAG/ as they are
    written; $OUT/speed-TAG.json (what merge reads) adds the code's hashes. Returns "ok", "skipped" or why not."""
    code = speed_code()
    specs = {spec.partition(":")[0]: spec for spec in args.speed_variants}
    todo, profile = speed_todo(speed, code, list(specs))
    if not todo and not profile:
        _log("speed: every variant and the profile recorded for this code, skipped")
        return "skipped"
    names = list(dict.fromkeys(["baseline", *todo]))
    work = out / f"speed-{args.tag}"
    if work.exists():
        shutil.rmtree(work)
    command = ["--parts", args.speed_parts, "--output-dir", str(work), "--variants",
               *[specs.get(name, name) for name in names], *shlex.split(args.speed_args)]
    if profile:
        command += ["--profile", str(work)]
    _log(f"speed: cifar10_speed.py {shlex.join(command)} (at most {left:.0f} s) ...")
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.cifar10_speed", *command], cwd=REPO)
    try:
        exit_code = process.wait(timeout=max(1.0, left))
    except subprocess.TimeoutExpired:
        _kill_tree(process)
        exit_code = None
    result = _load(work / "cifar10_speed.json")
    if not result.get("variants"):
        _log(f"speed: no variant measured (exit {exit_code}, {time.perf_counter() - start:.0f} s)")
        return f"no variant measured, exit {exit_code}"
    result.update(stopped_at_budget=exit_code is None, exit_code=exit_code, code=code)
    for variant in result["variants"].values():
        variant["code"] = code
    if result.get("profile"):
        result["profile"]["code"] = code
    _write(out / f"speed-{args.tag}.json", result)
    _write(state / f"speed-{args.tag}.json", result)
    _log(f"speed: {len(result['variants'])} variants measured, exit {exit_code}")
    return "ok" if exit_code == 0 else ("stopped at the budget" if exit_code is None else f"exit {exit_code}")


def measure_child(args) -> int:
    """``_measure``: one notebook, measured by notebook_resources in this (killable) process."""
    from benchmarks import notebook_resources

    entry = notebook_resources.measure_entry(Path(args.notebook), args.mode, None, Path(args.executed))
    _write(Path(args.result), entry)
    return 0


# -- merge -------------------------------------------------------------------------------------------------

def merge(paths, results_dir: Path = RESULTS, artifacts: Path = ARTIFACTS, allow_quick: bool = False) -> list[str]:
    """Merge returned files into the results files; return what changed, one line each."""
    files = []  # (file, its name relative to the folder given)
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted((p, p.relative_to(path)) for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            files.append((path, Path(path.name)))
        else:
            raise RunbookError(f"{path}: no such file or folder (give the files_at folder of a run reply)")
    if not files:
        raise RunbookError(f"nothing to merge in {', '.join(map(str, paths))}")
    lines = []
    for path, relative in files:
        if path.name.startswith("notebooks-") and path.suffix == ".json":
            lines += _merge_notebooks(_load(path), results_dir, path.name)
        elif path.name.startswith("speed-") and path.suffix == ".json":
            lines += _merge_speed(_load(path), results_dir, path.name, allow_quick)
        else:  # logs, executed notebooks, profiles: kept for reading
            artifacts.mkdir(parents=True, exist_ok=True)
            if path.name.endswith(".tar.gz"):
                folder = artifacts / path.name[: -len(".tar.gz")]
                with tarfile.open(path) as archive:
                    archive.extractall(folder, filter="data")
                lines.append(f"{path.name}: executed notebooks in {folder}")
            else:
                (artifacts / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, artifacts / relative)
                lines.append(f"{relative}: copied to {artifacts}")
    return lines


def _merge_notebooks(data: dict, results_dir: Path, name: str) -> list[str]:
    mode = data.get("mode")
    if mode not in ("smoke", "fast", "full") or not isinstance(data.get("notebooks"), dict):
        raise RunbookError(f"{name}: not a gpu_run results file (no mode or notebooks)")
    target = Path(results_dir) / f"notebook_resources_{mode}.json"
    results = _load(target)
    results.setdefault("notebooks", {})
    lines = []
    for stem, entry in data["notebooks"].items():
        old = results["notebooks"].get(stem)
        if entry.get("status") == "ok" or not old or old.get("status") != "ok":
            results["notebooks"][stem] = entry
            results["hardware"] = entry.get("hardware", results.get("hardware"))
            lines.append(f"{target.name}: {stem} <- {entry['status']}, {entry['seconds']} s")
        else:  # keep the finished run; remember the failed one beside it
            old["last_attempt"] = {k: entry.get(k) for k in ("status", "seconds", "stopped_at_budget", "measured_at",
                                                             "code", "runbook", "slowest_cells")}
            lines.append(f"{target.name}: {stem} kept its ok record; last attempt {entry['status']}")
    results["notebooks"] = dict(sorted(results["notebooks"].items()))
    results["mode"] = mode
    results.setdefault("description", "Measured by benchmarks/notebook_resources.py: wall time (kernel start "
                                      "included), kernel peak RSS (getrusage), sampled peak RSS of kernel + workers, "
                                      "results reported.")
    _write(target, results)
    return lines


def _merge_speed(data: dict, results_dir: Path, name: str, allow_quick: bool) -> list[str]:
    from benchmarks import cifar10_speed

    if "airbench94" not in data or "variants" not in data:
        raise RunbookError(f"{name}: not a cifar10_speed.py result (no airbench94 or variants)")
    if data.get("quick") and not allow_quick:
        raise RunbookError(f"{name}: a --quick check run, not a measurement: not merged")
    target = Path(results_dir) / "cifar10_speed.json"
    results = _load(target)
    lines = []
    keep = {k: data.get(k) for k in ("device", "torch", "date_utc", "airbench94", "target_source", "quick",
                                     "stopped_at_budget")}
    for variant, entry in (data.get("variants") or {}).items():
        results.setdefault("variants", {})[variant] = dict(entry, session=keep)
        lines.append(f"{target.name}: variant {variant}: accuracy {entry['accuracy']:.4f}, ratio "
                     f"{entry['ratio_to_airbench']}")
    if data.get("profile"):
        results["profile"] = dict(data["profile"], session=keep)
        lines.append(f"{target.name}: profile of one epoch")
    if set(cifar10_speed.PARTS) <= set(data.get("parts", ())) and data.get("course_resnet"):
        variants, profile = results.get("variants"), results.get("profile")
        results = {k: v for k, v in data.items() if k not in ("variants", "profile", "stopped_at_budget", "exit_code")}
        results.update({k: v for k, v in (("variants", variants), ("profile", profile)) if v})
        lines.append(f"{target.name}: every part measured, the top-level record replaced")
    _write(target, results)
    if results.get("course_resnet"):
        (target.with_suffix(".md")).write_text(cifar10_speed.markdown(results))
    return lines


# -- command line ------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("plan", help="the dry run: commands, carry sizes, estimates, the run tool's arguments")
    p.add_argument("--left", type=int, default=None, help="device time left in this session (status' budget_left_s)")
    p.add_argument("--warm", action="store_true", help="a machine is held now (no start to pay)")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET_S, help="seconds of work per command")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    p = sub.add_parser("pack", help="copy the data archives and download the wheels into .gpu_run/")
    p.add_argument("--data", default=",".join(DATASETS), help="comma-separated data sets (default: all)")
    p.add_argument("--no-wheels", action="store_true")
    sub.add_parser("manifest", help="rewrite gpu_wheels.txt at .ci/constraints.txt's versions (hashes, sizes)")
    p = sub.add_parser("device", help="on the GPU machine: what a planned command runs")
    p.add_argument("--out", required=True, help="the folder whose files come back ($OUT)")
    p.add_argument("--tag", required=True, help="names the files written to --out")
    p.add_argument("--items", required=True, help="comma-separated work: notebook numbers, speed")
    p.add_argument("--budget", type=float, required=True, help="seconds of work; a notebook still running is stopped")
    p.add_argument("--data", default="", help="data sets to materialize from the carried .gpu_run/data/")
    p.add_argument("--needs", default="", help="data sets an earlier command on this machine materialized")
    p.add_argument("--mode", choices=("smoke", "fast", "full"), default="full")
    p.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the kernels (default: half the cores)")
    p.add_argument("--allow-cpu", action="store_true", help="full mode without a GPU (never a GPU record)")
    p.add_argument("--pack-dir", default=str(PACK))
    p.add_argument("--data-root", default=DEVICE_DATA_ROOT)
    p.add_argument("--state-dir", default=DEVICE_STATE)
    p.add_argument("--results-dir", default=str(RESULTS))
    p.add_argument("--speed-variants", nargs="+", default=list(SPEED_VARIANTS), metavar="VARIANT",
                   help="cifar10_speed.py --variants (names or NAME:KEY=VALUE,...); recorded ones are skipped")
    p.add_argument("--speed-parts", default="airbench,course", help="cifar10_speed.py --parts")
    p.add_argument("--speed-args", default="", help="more cifar10_speed.py options, e.g. '--runs 5'")
    p = sub.add_parser("_measure", help=argparse.SUPPRESS)
    p.add_argument("notebook")
    p.add_argument("--mode", required=True)
    p.add_argument("--executed", required=True)
    p.add_argument("--result", required=True)
    p = sub.add_parser("merge", help="merge returned files into benchmarks/results/")
    p.add_argument("paths", nargs="+", help="the files_at folder of a run reply, or files in it")
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    p.add_argument("--artifacts", type=Path, default=ARTIFACTS)
    p.add_argument("--allow-quick", action="store_true", help="merge --quick speed results (rehearsals only)")
    p.add_argument("--render", action="store_true", help="then python -m tools.sync_notebooks")
    args = parser.parse_args(argv)
    try:
        if args.verb == "plan":
            report = plan_report(args.results_dir, budget=args.budget, left=args.left, warm=args.warm)
            print(json.dumps(report, indent=2)) if args.json else print_plan(report)
            if report["problems"]:
                print("\n".join(["", "PROBLEMS:", *report["problems"]]), file=sys.stderr)
                return 1
            return 0
        if args.verb == "pack":
            pack([d for d in args.data.split(",") if d], wheels=not args.no_wheels)
            print_plan(plan_report())
            return 0
        if args.verb == "manifest":
            update_manifest()
            return 0
        if args.verb == "device":
            return device(args)
        if args.verb == "_measure":
            return measure_child(args)
        if args.verb == "merge":
            for line in merge(args.paths, args.results_dir, args.artifacts, args.allow_quick):
                print(line)
            if args.render:
                from tools import sync_notebooks

                changed, stale = sync_notebooks.render_all()
                print("rendered: " + (", ".join(changed) if changed else "nothing changed"))
                if stale:
                    print("Korean edition not regenerated (stale translations):\n" + "\n".join(stale))
            return 0
    except RunbookError as error:
        print(f"gpu_run: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
