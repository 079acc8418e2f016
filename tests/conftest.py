import os
import re
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def _share_the_cores() -> None:
    """Under ``pytest -n N`` (pytest-xdist), each worker's notebook kernels and subprocesses use cores/N threads.

    Each worker runs its own notebook at the same time as the others; with PyTorch's default (one thread per
    core) N kernels would each start a thread per core and slow each other down. The variables are inherited
    by every kernel and subprocess the worker starts; a value you set yourself is kept.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    if workers < 2:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(max(1, cores // workers)))
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


_share_the_cores()

# The browser tests (test_browser.py, test_site.py) drive Chromium through Playwright. Without them they skip,
# except in CI, where .ci/run sets CI_REQUIRE_BROWSER=1 and a missing browser fails the run.
CHROMIUM = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_REQUIRED = os.environ.get("CI_REQUIRE_BROWSER") == "1"


def require_browser() -> str:
    """The Chromium executable to launch; skips the test when Playwright or Chromium is missing (fails it in CI)."""
    try:
        import playwright.sync_api  # noqa: F401
        missing = None
    except ImportError:
        missing = "playwright is not installed (pip install -r requirements-dev.txt)"
    if missing is None and not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set COURSE_CHROMIUM)"
    if missing:
        if BROWSER_REQUIRED:
            pytest.fail(f"CI_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    return CHROMIUM


def _nbval_cell_timeout() -> int:
    """pyproject.toml's ``--nbval-cell-timeout``: the seconds one cell may run in the tests' notebook runs."""
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    addopts = tomllib.loads(pyproject.read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    return int(re.search(r"--nbval-cell-timeout[= ](\d+)", addopts).group(1))


# Seconds one cell may run in every notebook execution of the tests (nbval's smoke runs, and the papermill runs
# of the full-shape rehearsal and of the tests that run a notebook themselves): no cell of a smoke or full-shape
# run needs a minute, so only a lost message reaches it, and the run fails in minutes instead of at CI's
# 90-minute limit. One value, set in pyproject.toml for nbval and read here for the others.
TEST_CELL_TIMEOUT_S = _nbval_cell_timeout()


def make_blobs(n=256, num_classes=4, seed=0, image_shape=(3, 8, 8)):
    """A learnable toy image dataset: each class is a different constant brightness pattern plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % num_classes
    centers = torch.randn(num_classes, *image_shape, generator=g)
    images = centers[labels] + 0.3 * torch.randn(n, *image_shape, generator=g)
    return TensorDataset(images, labels)


class TinyNet(nn.Module):
    def __init__(self, num_classes=4, in_features=3 * 8 * 8):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, 32), nn.ReLU(), nn.Linear(32, num_classes))

    def forward(self, x):
        return self.net(x)


@pytest.fixture
def blobs():
    return make_blobs()


@pytest.fixture
def loaders(blobs):
    train = DataLoader(blobs, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    val = DataLoader(make_blobs(n=64, seed=0), batch_size=64)
    return train, val


@pytest.fixture
def uint8_images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(50, 8, 8, 3), dtype=np.uint8)
