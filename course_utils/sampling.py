"""Datasets and collate functions that travel into DataLoader worker processes (notebooks 08 and 09).

Notebook 08 writes ``CsvImageDataset`` and ``CsvRecordStream`` in its own cells; these copies exist
because of *spawn*. Where DataLoader workers are started with *spawn* (the default on Windows and
macOS; ``multiprocessing.get_start_method()`` says which), each worker is a fresh Python process that
receives the dataset, ``collate_fn`` and ``worker_init_fn`` (and the transforms inside the dataset)
by pickling, that is by *importing them by name*: a class defined in a notebook cannot be found
that way, a class in this module can. Samplers and batch samplers need not be importable: they run
in the main process, and workers receive only lists of indices.

- ``CsvImageDataset``: a map-style dataset reading a CSV of annotations plus an image folder.
- ``CsvRecordStream``: an iterable-style dataset streaming the same CSV, sharded across workers.
- ``pad_collate``: batches items of different sizes by zero-padding them.
- ``seed_worker``: the ``worker_init_fn`` of PyTorch's reproducibility notes (see its docstring).
- ``MaskedLabels``: hides the labels of some samples (label ``-1``) for semi-supervised learning.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, IterableDataset, get_worker_info
from torchvision.transforms.v2.functional import pil_to_tensor

UNLABELED = -1
"""The label ``MaskedLabels`` gives to samples whose label is hidden."""


# -- reading a CSV of annotations and its image files ----------------------------------------------

def _read_rows(annotations_file: Path):
    """Yield ``(line, filename, label)`` for each data row of ``annotations_file`` (line 1 is the header).

    A missing ``filename`` or ``label`` column, a row with a field missing or empty, and a label that
    is not a class index (0, 1, 2, ...) raise ``ValueError`` naming the file and the line.
    """
    with open(annotations_file, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = {"filename", "label"} - set(header)
        if missing:
            raise ValueError(f"{annotations_file}: the header (line 1) lacks the column(s) {sorted(missing)}; "
                             f"found {header}. The first line must name the columns, e.g. 'filename,label'.")
        for row in reader:
            line = reader.line_num
            filename, label = row.get("filename"), row.get("label")
            if not filename or label is None or not label.strip():
                raise ValueError(f"{annotations_file}, line {line}: a field is missing or empty "
                                 f"(filename={filename!r}, label={label!r}); every row needs both.")
            if None in row:  # csv.DictReader puts the fields beyond the header's under the key None
                raise ValueError(f"{annotations_file}, line {line}: more fields than the header's {header} "
                                 f"({row[None]!r} left over); is there a comma in a file name?")
            if not label.strip().isdecimal():
                raise ValueError(f"{annotations_file}, line {line}: the label {label!r} of {filename!r} is not a "
                                 "class index (an integer 0, 1, 2, ...).")
            yield line, filename, int(label)


def read_image(path, where: str = "") -> torch.Tensor:
    """Read an image file with Pillow into a uint8 tensor (channels, height, width).

    ``torchvision.io``'s decoders are deprecated since torchvision 0.29; Pillow is a torchvision
    dependency. A missing, truncated or non-image file raises ``OSError`` naming the file and
    ``where`` (e.g. the CSV line that listed it).
    """
    try:
        with Image.open(path) as image:
            return pil_to_tensor(image)  # decodes the file; (1, H, W) for grayscale, (3, H, W) for RGB
    except OSError as error:  # FileNotFoundError, PIL.UnidentifiedImageError, "image file is truncated", ...
        raise OSError(f"{where}cannot read the image file {path}: {error}") from error


# -- a custom map-style dataset: CSV annotations + an image folder ----------------------------------

class CsvImageDataset(Dataset):
    """Images listed in a CSV file (columns ``filename,label``), read from ``image_dir``.

    The same class as notebook 08 writes, plus checks. ``__len__`` is the number of rows;
    ``__getitem__(i)`` reads row ``i``'s image with Pillow (a uint8 tensor (C, H, W)), then applies
    ``transform`` to the image and ``target_transform`` to the label. Only the small CSV is read
    up front (rows with a missing field or a bad label raise ``ValueError`` naming the file and
    line); images are read one at a time, when asked for (an unreadable one raises ``OSError``
    naming the image, the CSV file and the line).
    """

    def __init__(self, annotations_file, image_dir, transform=None, target_transform=None):
        self.annotations_file = Path(annotations_file)
        self.image_dir = Path(image_dir)
        rows = list(_read_rows(self.annotations_file))
        if not rows:
            raise ValueError(f"{self.annotations_file} has a header but no rows: nothing to load.")
        self.lines = [line for line, _, _ in rows]
        self.filenames = [filename for _, filename, _ in rows]
        self.targets = [label for _, _, label in rows]
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.filenames)

    def __getitem__(self, index):
        where = f"{self.annotations_file}, line {self.lines[index]}: "
        image = read_image(self.image_dir / self.filenames[index], where)
        label = self.targets[index]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label


# -- an iterable-style dataset: streaming records, sharded across workers ------------------------------

class CsvRecordStream(IterableDataset):
    """Streams the rows of a CSV file (``filename,label``) as dicts, one row at a time.

    The same class as notebook 08 writes, plus checks and ``image_dir``. An iterable-style dataset
    has no ``__getitem__``: the DataLoader just calls ``iter()`` on it, in every worker. Without
    sharding each of ``N`` workers reads the whole file and every record comes out ``N`` times.
    With ``shard=True`` each worker asks ``get_worker_info()`` who it is and keeps only the rows
    ``row % num_workers == worker_id``.

    Each item is ``{"row": row number, "label": label, "worker": worker id (-1: main process)}``,
    plus ``"image"`` (uint8 tensor) when ``image_dir`` is given. Bad rows and unreadable images
    raise errors naming the file and line, as in ``CsvImageDataset``.
    """

    def __init__(self, annotations_file, image_dir=None, shard: bool = True):
        self.annotations_file = Path(annotations_file)
        self.image_dir = Path(image_dir) if image_dir is not None else None
        self.shard = shard

    def __iter__(self):
        info = get_worker_info()  # None in the main process, else (id, num_workers, seed, dataset)
        worker_id, num_workers = (info.id, info.num_workers) if info is not None else (-1, 1)
        for row_number, (line, filename, label) in enumerate(_read_rows(self.annotations_file)):
            if self.shard and num_workers > 1 and row_number % num_workers != worker_id:
                continue  # another worker yields this row
            record = {"row": row_number, "label": label, "worker": worker_id}
            if self.image_dir is not None:
                record["image"] = read_image(self.image_dir / filename, f"{self.annotations_file}, line {line}: ")
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
    """``worker_init_fn`` that seeds NumPy's and Python's global generators from the worker's torch seed.

    This is the recipe shown in PyTorch's reproducibility notes. Since PyTorch 1.9 the DataLoader
    seeds every worker itself (``torch/utils/data/_utils/worker.py``): ``random`` and ``torch`` with
    ``base_seed + worker_id``, and NumPy's global generator (``np.random.seed``, used by the legacy
    ``np.random.*`` functions) with a seed hashed from ``(base_seed, worker_id)``. ``base_seed`` is
    drawn from the DataLoader's ``generator`` (torch's global generator if none is given) each time
    an iterator is created: each epoch, or once with ``persistent_workers``. So on PyTorch 1.9 or
    later this function only changes *which* seed NumPy and ``random`` get
    (``torch.initial_seed() % 2**32``); it adds no randomness and no reproducibility. What no
    ``worker_init_fn`` of this kind fixes: generator objects that the dataset owns
    (``np.random.default_rng(...)``, ``random.Random``, ``torch.Generator``) are copied into every
    worker in the same state and draw the same numbers there; create them in each worker from
    ``torch.utils.data.get_worker_info().seed`` instead.
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
