"""The machine the course runs on: device choice, seeding, an environment report, the run mode."""
from __future__ import annotations

import numbers
import os
import platform as _platform
import random
import sys

import numpy as np
import torch

RUN_MODES = ("smoke", "fast", "full")
"""smoke: seconds on a CPU (CI); fast: minutes on a laptop CPU or Binder; full: the real result on a GPU."""


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` (or the environment variable ``COURSE_DEVICE``) forces one, e.g. ``"cpu"``.
    Asking for a device that is not available raises a ``RuntimeError`` saying what is.
    """
    prefer = prefer or os.environ.get("COURSE_DEVICE") or None
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"Device {prefer!r} was requested but PyTorch sees no CUDA GPU. "
                "On Colab choose Runtime > Change runtime type > GPU; otherwise use 'cpu'."
            )
        if device.type == "mps" and not _mps_available():
            raise RuntimeError(f"Device {prefer!r} was requested but Apple's MPS backend is not available.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def seed_everything(seed: int, deterministic: bool = False) -> torch.Generator:
    """Seed Python's, NumPy's and PyTorch's random generators; return a seeded ``torch.Generator``.

    With ``deterministic=True`` PyTorch also uses deterministic algorithms (slower on a GPU, and
    some operations then raise an error instead of running non-deterministically).
    """
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)  # a NumPy integer too (random.seed accepts only Python's)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def detect_platform() -> str:
    """Where the notebook runs: ``"colab"``, ``"kaggle"``, ``"binder"`` or ``"local"``."""
    if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:
        return "colab"
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ or "KAGGLE_URL_BASE" in os.environ:
        return "kaggle"
    if "BINDER_SERVICE_HOST" in os.environ or "BINDER_REPO_URL" in os.environ:
        return "binder"
    return "local"


def resolve_run_mode(run_mode: str | None = None) -> str:
    """Pick the run mode: the argument if given, else ``COURSE_RUN_MODE``, else full on a GPU, fast otherwise."""
    chosen = run_mode or os.environ.get("COURSE_RUN_MODE") or None
    if chosen is None:
        return "full" if torch.cuda.is_available() else "fast"
    chosen = str(chosen).strip().lower()
    if chosen not in RUN_MODES:
        raise ValueError(f"RUN_MODE must be one of {RUN_MODES}, got {run_mode or os.environ.get('COURSE_RUN_MODE')!r}")
    return chosen


def environment_report(print_report: bool = True) -> dict:
    """Collect (and print) the versions, device, CPU count, RAM and platform in one call."""
    import torchvision

    report = {
        "python": _platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "platform": detect_platform(),
        "os": f"{_platform.system()} {_platform.release()}",
        "cpu_count": os.cpu_count(),
        "ram_gb": _total_ram_gb(),
        "device": str(get_device()),
        "device_name": "CPU",
        "device_memory_gb": None,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        report["device_name"] = props.name
        report["device_memory_gb"] = round(props.total_memory / 2**30, 1)
    elif _mps_available():
        report["device_name"] = "Apple MPS"
    if print_report:
        width = max(map(len, report))
        for key, value in report.items():
            print(f"{key:<{width}}  {value if value is not None else '-'}")
    return report


def _total_ram_gb() -> float | None:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:  # psutil is optional
        try:
            return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
        except (ValueError, OSError, AttributeError):
            return None


def release_memory() -> int | None:
    """Give memory that was freed back to the operating system where it can, and return the process's resident
    memory in bytes afterwards (None without psutil).

    Deleting a tensor or an array frees it for Python, but the C library may keep the freed space in the
    process's heap for later use, so the process keeps counting it against a memory limit (Binder gives about
    2 GB). This collects garbage, empties PyTorch's CUDA cache on a GPU, and on Linux with glibc calls
    ``malloc_trim(0)``, which hands the heap's free space back to the system. Elsewhere it does what it can."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # another C library (musl): nothing to trim
            ctypes.CDLL("libc.so.6").malloc_trim(0)
    try:
        import psutil
    except ImportError:
        return None
    return psutil.Process().memory_info().rss
