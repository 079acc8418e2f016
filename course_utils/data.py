"""Where the data lives, loading the course datasets through torchvision, statistics and splits."""
from __future__ import annotations

import numbers
import os
import pickle
import warnings
from collections.abc import Sequence
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch
from torchvision import datasets
from torchvision.datasets.utils import check_integrity

from .checks import batch_layout, one_dimensional, positive_int
from .env import detect_platform

ALLOW_UNVERIFIED_ENV = "COURSE_ALLOW_UNVERIFIED_DATA"
DATA_ROOT_ENV = "COURSE_DATA_ROOT"
_REPO_ROOT = Path(__file__).resolve().parent.parent
_WARNED: set[str] = set()  # unverified copies already announced in this session


class DatasetNotAvailableError(RuntimeError):
    """The dataset is neither on disk nor downloadable (e.g. offline), or its files fail verification."""


def data_root() -> Path:
    """The folder datasets are read from and downloaded to.

    ``COURSE_DATA_ROOT`` if set; else ``<repository>/data`` when course_utils runs from a checkout
    of the course repository (whatever the working directory); else ``/content/data`` on Colab
    and ``~/course_data`` elsewhere (course_utils installed on its own).
    """
    if os.environ.get(DATA_ROOT_ENV):
        return _folder(Path(os.environ[DATA_ROOT_ENV]).expanduser().resolve(), DATA_ROOT_ENV)
    if (_REPO_ROOT / "pyproject.toml").is_file() and (_REPO_ROOT / "notebooks").is_dir():
        return _REPO_ROOT / "data"
    if detect_platform() == "colab":
        return Path("/content/data")
    return Path.home() / "course_data"


def _folder(root, name: str) -> Path:
    """``root`` as a Path, which must be a folder (or not exist yet: downloading creates it)."""
    if isinstance(root, bool) or not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"{name} must be a folder path, got {root!r}. To choose the split, pass train=True or "
                        "train=False by name, e.g. load_cifar10(train=False).")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DatasetNotAvailableError(f"{name} {root} is a file, not a folder. Point it at the folder that holds "
                                       "(or should hold) the datasets, or leave it unset for the default.")
    return root


def allow_unverified() -> bool:
    """True when the user opted in to local dataset copies that fail torchvision's checksum test."""
    return os.environ.get(ALLOW_UNVERIFIED_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


# -- CIFAR-10 / CIFAR-100 ---------------------------------------------------------------------

def _without_checksums(cls):
    """Class attributes for a subclass of ``cls`` that accepts files failing the official MD5s.

    torchvision's ``check_integrity(path, md5=None)`` only checks that a file exists, so clearing
    the expected checksums is all it takes; the parsing stays torchvision's own.
    """
    return {
        "train_list": [(name, None) for name, _ in cls.train_list],
        "test_list": [(name, None) for name, _ in cls.test_list],
        "meta": {**cls.meta, "md5": None},
    }


# Module-level classes, so that datasets built from them pickle into DataLoader worker processes.
_UnverifiedCIFAR10 = type("_UnverifiedCIFAR10", (datasets.CIFAR10,), _without_checksums(datasets.CIFAR10))
_UnverifiedCIFAR100 = type("_UnverifiedCIFAR100", (datasets.CIFAR100,), _without_checksums(datasets.CIFAR100))


_CIFAR = {
    "CIFAR-10": (datasets.CIFAR10, _UnverifiedCIFAR10, "cifar-10-python.tar.gz"),
    "CIFAR-100": (datasets.CIFAR100, _UnverifiedCIFAR100, "cifar-100-python.tar.gz"),
}


def _load_cifar(name, root, download, **kwargs):
    verified_cls, unverified_cls, archive = _CIFAR[name]
    root = _folder(root, "root") if root is not None else data_root()
    folder = root / verified_cls.base_folder
    names = [f for f, _ in verified_cls.train_list + verified_cls.test_list] + [verified_cls.meta["filename"]]
    missing = [f for f in names if not (folder / f).is_file()]
    if not missing:
        try:
            return verified_cls(str(root), download=False, **kwargs)
        except RuntimeError:
            pass  # files there but not the official ones: only loaded on explicit opt-in
        if not allow_unverified():
            raise DatasetNotAvailableError(
                f"{name}: the files in {folder} do not match torchvision's official checksums "
                f"(a re-encoded or modified copy). If you trust this copy, set the environment variable "
                f"{ALLOW_UNVERIFIED_ENV}=1 and run again; otherwise delete the folder and let torchvision "
                f"download the official archive."
            )
        if str(folder) not in _WARNED:  # once per folder and session: a warning, not noise
            _WARNED.add(str(folder))
            warnings.warn(
                f"{name}: loading an UNVERIFIED local copy from {folder} ({ALLOW_UNVERIFIED_ENV} is set). "
                "Its files fail torchvision's checksum test; accuracies may differ from the official dataset.",
                stacklevel=3,
            )
        try:
            return unverified_cls(str(root), download=False, **kwargs)
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, OSError) as error:
            raise DatasetNotAvailableError(
                f"{name}: the files in {folder} cannot be read ({type(error).__name__}: {error}): truncated or "
                "corrupt. Delete the folder and run again to download the official archive."
            ) from error
    found = f" {folder} exists but lacks {', '.join(missing)}." if folder.is_dir() else ""
    if (root / archive).is_file() and not check_integrity(str(root / archive), verified_cls.tgz_md5):
        raise DatasetNotAvailableError(
            f"{name}: the archive {root / archive} fails torchvision's checksum (an interrupted download, or "
            f"another file).{found} Delete it and run again to download it afresh, or replace it with the "
            f"official file from {verified_cls.url}."
        )
    if not download:
        raise DatasetNotAvailableError(_missing_message(name, folder, root / archive, verified_cls.url) + found)
    try:
        return verified_cls(str(root), download=True, **kwargs)
    except (URLError, OSError, RuntimeError) as error:
        raise DatasetNotAvailableError(
            _missing_message(name, folder, root / archive, verified_cls.url) + found + f"\n(download failed: {error})"
        ) from error


def _missing_message(name, folder, archive, url):
    return (
        f"{name} was not found in {folder} and could not be downloaded (are you offline?). "
        f"Download {url} on a machine with internet access and place it at {archive}; "
        f"torchvision extracts and verifies it on the next run. To use another data folder, "
        f"set {DATA_ROOT_ENV}."
    )


def load_cifar10(root=None, *, train=True, transform=None, target_transform=None, download=True):
    """CIFAR-10 through ``torchvision.datasets.CIFAR10`` (downloaded on first use).

    ``root``: the data folder (default ``data_root()``); as in torchvision it may come first, and
    everything else is passed by name: ``load_cifar10(train=False, transform=...)``.
    """
    return _load_cifar("CIFAR-10", root, download, train=train, transform=transform, target_transform=target_transform)


def load_cifar100(root=None, *, train=True, transform=None, target_transform=None, download=True):
    """CIFAR-100 (100 fine classes) through ``torchvision.datasets.CIFAR100``; arguments as ``load_cifar10``."""
    return _load_cifar("CIFAR-100", root, download, train=train, transform=transform,
                       target_transform=target_transform)


_FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                  "t10k-labels-idx1-ubyte")


def load_fashion_mnist(root=None, *, train=True, transform=None, target_transform=None, download=True):
    """Fashion-MNIST through ``torchvision.datasets.FashionMNIST``; arguments as ``load_cifar10``."""
    root = _folder(root, "root") if root is not None else data_root()
    raw = root / "FashionMNIST" / "raw"
    kwargs = dict(train=train, transform=transform, target_transform=target_transform)
    if all((raw / f).is_file() for f in _FASHION_FILES):
        try:
            return datasets.FashionMNIST(str(root), download=False, **kwargs)
        except (RuntimeError, ValueError, OSError, AssertionError) as error:
            raise DatasetNotAvailableError(
                f"Fashion-MNIST: the files in {raw} cannot be read ({type(error).__name__}: {error}): truncated or "
                "corrupt. Delete them and run again to download fresh copies."
            ) from error
    for name, md5 in datasets.FashionMNIST.resources:
        if (raw / name).is_file() and not check_integrity(str(raw / name), md5):
            raise DatasetNotAvailableError(
                f"Fashion-MNIST: {raw / name} fails torchvision's checksum (an interrupted download, or another "
                "file). Delete it and run again to download it afresh."
            )
    try:
        return datasets.FashionMNIST(str(root), download=download, **kwargs)
    except (URLError, OSError, RuntimeError) as error:
        raise DatasetNotAvailableError(
            f"Fashion-MNIST was not found in {raw} and could not be downloaded (are you offline?). "
            "Place the four official files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (from "
            f"https://github.com/zalandoresearch/fashion-mnist) in {raw}; torchvision verifies and "
            f"extracts them on the next run. To use another data folder, set {DATA_ROOT_ENV}."
            f"\n(details: {error})"
        ) from error


# -- statistics and splits -------------------------------------------------------------------

def channel_stats(data, batch_size: int = 1000, *, layout: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact per-channel mean and (population) standard deviation, on the 0..1 scale.

    ``data`` is a uint8 image array (N, H, W, C) or (N, H, W), e.g. ``CIFAR10(...).data``, or a
    dataset whose items are ``(image_tensor, label)`` with image tensors (C, H, W) in 0..1 (e.g.
    built with ``ToTensor()``). A uint8 array (N, C, H, W) works too: its layout is read from the
    axis with 1, 3 or 4 entries, or given as ``layout="NCHW"``. Sums are accumulated in float64 over
    chunks, so no float copy of the whole dataset is ever held in memory.
    """
    batch_size = positive_int(batch_size, "batch_size", "channel_stats")
    total = total_sq = None
    count = 0
    for chunk in _channel_chunks(data, batch_size, layout):  # chunk: float64 (n, C, pixels)
        s, sq = chunk.sum(dim=(0, 2)), (chunk * chunk).sum(dim=(0, 2))
        total = s if total is None else total + s
        total_sq = sq if total_sq is None else total_sq + sq
        count += chunk.shape[0] * chunk.shape[2]
    if count == 0:
        raise ValueError("channel_stats got no images: the array or dataset is empty.")
    mean = total / count
    var = (total_sq / count - mean * mean).clamp_min(0)
    return mean.float(), var.sqrt().float()


def _channel_chunks(data, batch_size, layout):
    if isinstance(data, (np.ndarray, torch.Tensor)):
        array = torch.as_tensor(data)
        if array.dtype != torch.uint8:
            raise TypeError(
                f"channel_stats expects a uint8 image array (values 0..255), got dtype {array.dtype}; "
                "pass a dataset of tensors for float images."
            )
        if len(array) == 0:
            return
        found = batch_layout(array.shape, layout, "channel_stats")
        if found == "NHW":  # grey images: one channel
            array = array[:, None]
        elif found == "NHWC":
            array = array.permute(0, 3, 1, 2)  # now (N, C, H, W)
        for start in range(0, len(array), batch_size):
            chunk = array[start:start + batch_size].to(torch.float64) / 255.0
            yield chunk.reshape(chunk.shape[0], chunk.shape[1], -1)
        return
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    for batch in _stacked(loader):
        images = batch[0] if isinstance(batch, (list, tuple)) else batch
        if not torch.is_tensor(images) or not images.is_floating_point() or images.ndim != 4:
            raise TypeError(
                "channel_stats expects a dataset of (C, H, W) float image tensors; "
                "add transforms.ToTensor() to the dataset or pass its uint8 `.data` array."
            )
        if images.shape[1] not in (1, 3, 4):
            raise ValueError(f"channel_stats: the dataset's images have shape {tuple(images.shape[1:])}, but (C, H, W) "
                             "with 1, 3 or 4 channels first was expected; ToTensor() gives that layout.")
        images = images.to(torch.float64)
        yield images.reshape(images.shape[0], images.shape[1], -1)


def _stacked(loader):
    """The batches of ``loader``, with what stops images from being stacked into a batch explained."""
    try:
        yield from loader
    except (TypeError, RuntimeError) as error:
        subset = isinstance(loader.dataset, torch.utils.data.Subset)
        array = "dataset.data[subset.indices]" if subset else "its uint8 .data array"
        if "PIL" in str(error):
            raise TypeError(f"channel_stats: the dataset returns PIL images; add transforms.ToTensor() to its "
                            f"transform, or pass {array}.") from error
        if "stack expects each tensor to be equal size" in str(error):
            raise ValueError("channel_stats: the dataset's images differ in size, so they cannot be stacked into "
                             "batches; add a transform that gives them one size (e.g. v2.Resize((32, 32)) or "
                             "v2.CenterCrop(32)) first, or pass batch_size=1 for the statistics of the images as "
                             "they are.") from error
        raise


def targets_of(dataset) -> np.ndarray:
    """The integer labels of a torchvision dataset or a ``Subset`` of one, as a NumPy array."""
    if isinstance(dataset, torch.utils.data.Subset):
        return targets_of(dataset.dataset)[np.asarray(dataset.indices)]
    if hasattr(dataset, "targets"):
        return np.asarray(dataset.targets)
    if isinstance(dataset, torch.utils.data.TensorDataset):
        return dataset.tensors[1].cpu().numpy()
    raise TypeError(f"Cannot find the labels of a {type(dataset).__name__}: it has no `.targets`.")


def stratified_split(targets: Sequence[int], val_size: float | int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into train and validation sets with the same class proportions in each.

    ``val_size`` is a fraction (0 < val_size < 1) or a number of samples. Uses scikit-learn's
    ``train_test_split(..., stratify=targets)``; returns sorted index arrays.
    """
    from sklearn.model_selection import train_test_split

    targets = one_dimensional(targets, "targets", "stratified_split")
    indices = np.arange(len(targets))
    train_idx, val_idx = train_test_split(indices, test_size=val_size, stratify=targets, random_state=seed)
    return np.sort(train_idx), np.sort(val_idx)


def balanced_subset(targets: Sequence[int], size: int, seed: int = 0) -> np.ndarray:
    """A deterministic, class-balanced subset of ``size`` indices (sorted), for smoke and fast runs.

    Each class contributes ``size // num_classes`` samples (the remainder goes to the first
    classes), chosen at random with ``seed``.
    """
    targets = one_dimensional(targets, "targets", "balanced_subset")
    classes = np.unique(targets)
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size <= 0 or size > len(targets):
        fraction = (f" It is a number of samples: for a fraction, pass round({size} * len(targets))."
                    if isinstance(size, float) and 0 < size < 1 else "")
        raise ValueError(f"balanced_subset: size must be a whole number between 1 and {len(targets)}, "
                         f"got {size!r}.{fraction}")
    size = int(size)
    rng = np.random.default_rng(seed)
    per_class = [size // len(classes) + (i < size % len(classes)) for i in range(len(classes))]
    chosen = []
    for cls, n in zip(classes, per_class, strict=True):
        members = np.flatnonzero(targets == cls)
        if n > len(members):
            raise ValueError(f"class {cls} has only {len(members)} samples, {n} were asked for")
        chosen.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(chosen))
