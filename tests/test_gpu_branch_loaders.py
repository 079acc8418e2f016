"""Notebooks 04 and 05 on a GPU train from cu.GPULoader instead of a DataLoader with per-image transforms.

CI has no GPU, so this branch would otherwise first run in a short GPU window. Here each notebook's own set-up
cells run in smoke mode on the CPU, and ``make_train_loader(on_gpu=True)`` (the branch a GPU takes) is checked
against what the DataLoader branch gives: the same number of batches of the same shapes and types, labels from the
training images, crop padding where the notebook augments, and (04's dropout runs) un-augmented images equal to
the clean transform's.
"""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from torch.utils.data import Subset

import course_utils as cu
from tools import nbkit
from tools.paths import NOTEBOOK_DIR

matplotlib.use("Agg")
# notebook: (its data loader, the cells that define make_train_loader after the parameters and set-up cells)
NOTEBOOKS = {
    "04_cnn_batchnorm_cifar100": (cu.load_cifar100, [r"^raw_train = cu\.load_cifar100"]),
    "05_vgg": (cu.load_cifar10, [r"^raw_train = cu\.load_cifar10"]),
}


def run_setup(name: str) -> dict:
    load, cells = NOTEBOOKS[name]
    try:
        load(train=False)
    except (FileNotFoundError, RuntimeError) as error:
        pytest.skip(f"data not available: {error}")
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    namespace = nbkit.exec_cells(path, [r"^RUN_MODE = None"])
    namespace["RUN_MODE"] = "smoke"
    nbkit.exec_cells(path, [r"^settings = cu\.RunSettings\(", *cells], namespace)
    namespace["plt"].close("all")
    return namespace


@pytest.fixture(scope="module", params=list(NOTEBOOKS))
def notebook(request):
    return run_setup(request.param)


@pytest.fixture(scope="module")
def notebook_04():
    return run_setup("04_cnn_batchnorm_cifar100")


def normalized_zero(ns) -> torch.Tensor:
    """What a padded (black) pixel becomes after normalization, per channel."""
    return ((0 - torch.tensor(ns["MEAN"])) / torch.tensor(ns["STD"])).view(3, 1, 1)


def padded_border(image: torch.Tensor, zero: torch.Tensor) -> bool:
    """Whether a whole row or column at the image's edge is padding."""
    is_zero = torch.isclose(image, zero.expand_as(image), atol=1e-5).all(dim=0)  # (H, W)
    return bool(is_zero[0].all() or is_zero[-1].all() or is_zero[:, 0].all() or is_zero[:, -1].all())


def test_the_gpu_branch_gives_a_gpu_loader_like_the_dataloader(notebook):
    ns = notebook
    gpu, reference = ns["make_train_loader"](seed=0, on_gpu=True), ns["make_train_loader"](seed=0, on_gpu=False)
    assert isinstance(gpu, cu.GPULoader) and not isinstance(reference, cu.GPULoader)
    assert len(gpu) == len(reference), "the same batches per epoch (the one-cycle schedule counts on it)"
    (x, y), (xr, yr) = next(iter(gpu)), next(iter(reference))
    assert x.shape == xr.shape and x.dtype == xr.dtype == torch.float32 and y.dtype == yr.dtype == torch.int64
    labels = torch.cat([labels for _, labels in gpu])
    classes = len(ns["classes"])
    available = np.bincount(cu.targets_of(ns["train_set"]), minlength=classes)
    assert (np.bincount(labels.numpy(), minlength=classes) <= available).all(), "labels of the training images only"
    zero = normalized_zero(ns)
    padded = np.mean([padded_border(image, zero) for image in x])
    assert padded > 0.5, f"random crops with padding {ns['PADDING']}: most images show padding, here {padded:.0%}"


def test_the_gpu_branch_does_not_augment_where_the_notebook_does_not(notebook_04):
    ns = notebook_04
    clean = Subset(ns["train_clean"], ns["train_idx"][:64])  # as the dropout runs: un-augmented images
    loader = ns["make_train_loader"](seed=0, dataset=clean, on_gpu=True)
    expected = torch.stack([clean[i][0] for i in range(len(clean))])  # the clean transform's images
    for images, labels in loader:
        for image, label in zip(images, labels, strict=True):
            differences = (expected - image).flatten(1).abs().amax(dim=1)
            nearest = int(differences.argmin())
            assert differences[nearest] < 1e-5, "each image is one of the clean images, not cropped or flipped"
            assert clean[nearest][1] == label
