"""Datasets and collate functions that travel into DataLoader worker processes.

They live in a module (not in a notebook) because with ``num_workers > 0`` on Windows and macOS
PyTorch starts workers with *spawn*: each worker unpickles the dataset, the collate function and
``worker_init_fn`` by importing them by name, and classes defined in a notebook's ``__main__``
cannot be found that way.

- ``CsvImageDataset``: a map-style dataset reading a CSV of annotations plus an image folder.
- ``CsvRecordStream``: an iterable-style dataset streaming the same CSV, sharded across workers.
- ``pad_collate``: batches items of different sizes by zero-padding them.
- ``seed_worker``: a ``worker_init_fn`` seeding NumPy and ``random`` in each worker.
- ``MaskedLabels``: hides the labels of some samples (label ``-1``) for semi-supervised learning.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

UNLABELED = -1
"""The label ``MaskedLabels`` gives to samples whose label is hidden."""


# -- a custom map-style dataset: CSV annotations + an image folder ----------------------------------

class CsvImageDataset(Dataset):
    """Images listed in a CSV file (columns ``filename,label``), read from ``image_dir``.

    ``__len__`` is the number of rows; ``__getitem__(i)`` reads row ``i``'s image with
    ``torchvision.io.decode_image`` (a uint8 tensor (C, H, W)), then applies ``transform`` to the
    image and ``target_transform`` to the label. Only the small CSV is read up front: images are
    read from disk one at a time, when asked for.
    """

    def __init__(self, annotations_file, image_dir, transform=None, target_transform=None):
        self.annotations_file = Path(annotations_file)
        self.image_dir = Path(image_dir)
        with open(self.annotations_file, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            raise ValueError(f"{self.annotations_file} has no rows.")
        missing = {"filename", "label"} - set(rows[0])
        if missing:
            raise ValueError(f"{self.annotations_file} lacks the column(s) {sorted(missing)}; "
                             f"found {sorted(rows[0])}.")
        self.filenames = [row["filename"] for row in rows]
        self.targets = [int(row["label"]) for row in rows]
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.filenames)

    def __getitem__(self, index):
        from torchvision.io import ImageReadMode, decode_image

        image = decode_image(str(self.image_dir / self.filenames[index]), mode=ImageReadMode.UNCHANGED)
        label = self.targets[index]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label


# -- an iterable-style dataset: streaming records, sharded across workers ------------------------------

class CsvRecordStream(IterableDataset):
    """Streams the rows of a CSV file (``filename,label``) as dicts, one row at a time.

    An iterable-style dataset has no ``__getitem__``: the DataLoader just calls ``iter()`` on it,
    in every worker. Without sharding each of ``N`` workers reads the whole file and every record
    comes out ``N`` times. With ``shard=True`` each worker asks ``get_worker_info()`` who it is and
    keeps only the rows ``row % num_workers == worker_id``.

    Each item is ``{"row": row number, "label": label, "worker": worker id (-1: main process)}``,
    plus ``"image"`` (uint8 tensor) when ``image_dir`` is given.
    """

    def __init__(self, annotations_file, image_dir=None, shard: bool = True):
        self.annotations_file = Path(annotations_file)
        self.image_dir = Path(image_dir) if image_dir is not None else None
        self.shard = shard

    def __iter__(self):
        info = get_worker_info()  # None in the main process, else (id, num_workers, seed, dataset)
        worker_id, num_workers = (info.id, info.num_workers) if info is not None else (-1, 1)
        with open(self.annotations_file, newline="") as f:
            for row_number, row in enumerate(csv.DictReader(f)):
                if self.shard and num_workers > 1 and row_number % num_workers != worker_id:
                    continue  # another worker yields this row
                record = {"row": row_number, "label": int(row["label"]), "worker": worker_id}
                if self.image_dir is not None:
                    from torchvision.io import ImageReadMode, decode_image

                    record["image"] = decode_image(str(self.image_dir / row["filename"]), mode=ImageReadMode.UNCHANGED)
                yield record


# -- collate functions and worker seeding ---------------------------------------------------------------

def pad_collate(batch):
    """Batch ``(tensor, label)`` items whose tensors differ in size by zero-padding them.

    Every tensor is padded at the end of each dimension up to the largest size in the batch.
    Returns ``(padded, labels, sizes)``: padded tensors (N, *max_size), labels (N,) and each
    item's original size (N, ndim), so that a model can ignore the padding if it needs to.
    ``default_collate`` would instead fail with "stack expects each tensor to be equal size".
    """
    if len(batch) == 0:
        raise ValueError("pad_collate got an empty batch.")
    tensors = [torch.as_tensor(item[0]) for item in batch]
    ndims = {t.ndim for t in tensors}
    if len(ndims) != 1:
        raise ValueError(f"pad_collate: all items need the same number of dimensions, got {sorted(ndims)}.")
    sizes = torch.tensor([list(t.shape) for t in tensors], dtype=torch.long)
    max_size = sizes.max(dim=0).values.tolist()
    padded = tensors[0].new_zeros((len(tensors), *max_size))
    for i, t in enumerate(tensors):
        padded[(i, *(slice(0, s) for s in t.shape))] = t
    labels = torch.as_tensor([int(item[1]) for item in batch], dtype=torch.long)
    return padded, labels, sizes


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` that seeds NumPy and ``random`` in each worker from PyTorch's worker seed.

    PyTorch seeds its own generator in every worker (base seed + worker id, the base seed drawn
    from the DataLoader's ``generator``), but not NumPy's or Python's: without this, augmentations
    that use NumPy could repeat in every worker (and, with fork, every epoch).
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


# -- semi-supervised: hidden labels and a batch sampler over two pools -----------------------------------

class MaskedLabels(Dataset):
    """Wraps ``dataset`` (items ``(input, label)``) and replaces the label by ``-1`` outside ``labeled``.

    The label ``-1`` (``UNLABELED``) is a flag the training loop can test, and one that
    ``cross_entropy`` would refuse loudly (out of range) if an unlabeled sample slipped into the
    supervised loss.
    """

    def __init__(self, dataset, labeled_indices):
        self.dataset = dataset
        self.is_labeled = np.zeros(len(dataset), dtype=bool)
        labeled = _as_index_array(labeled_indices, "labeled_indices")
        _check_range(labeled, len(dataset), "labeled_indices")
        self.is_labeled[labeled] = True

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        image, label = self.dataset[index]
        return image, (int(label) if self.is_labeled[index] else UNLABELED)


def _as_index_array(indices, name) -> np.ndarray:
    array = np.asarray(indices)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of indices, got shape {array.shape}.")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integer indices, got dtype {array.dtype}.")
    return array.astype(np.int64)


def _check_range(indices, num_samples, name):
    if indices.size and (indices.min() < 0 or indices.max() >= num_samples):
        raise IndexError(f"{name} must lie in 0..{num_samples - 1} (the dataset has {num_samples} samples); "
                         f"found {int(indices.min())}..{int(indices.max())}.")
