"""Notebook 08's datasets and CNNs against their package copies, and the package's input checks.

The notebook writes ``CsvImageDataset``, ``CsvRecordStream``, ``CNN`` and ``newCNN`` in its cells;
``course_utils`` keeps copies because worker processes started with *spawn* can only import classes
from a module. These tests run the notebook's class cells (``nbkit.exec_cells``) and compare
behaviour: the same items for the same CSV, the same rows per worker, the same outputs for the same
weights. They also check what the notebook and the README say about workers: samplers run in the
main process (a sampler that cannot be imported works with spawn workers), and PyTorch seeds NumPy
and ``random`` in every worker.
"""
from __future__ import annotations

import multiprocessing
import random
import warnings
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

import course_utils as cu
from course_utils.sampling import CsvImageDataset, CsvRecordStream
from tools import nbkit
from tools.paths import NOTEBOOK_DIR

NOTEBOOK = NOTEBOOK_DIR / "08_dataset_sampler_internals.ipynb"
HAS_FORK = "fork" in multiprocessing.get_all_start_methods()


@pytest.fixture(scope="module")
def nb():
    """The notebook's imports cell and class cells, run in one namespace (nothing slow: no data, no training)."""
    return nbkit.exec_cells(NOTEBOOK, [r"^import csv$", r"^class CsvImageDataset\(", r"^class CsvRecordStream\(",
                                       r"^class CNN\(", r"^class newCNN\("])


def write_images(folder, n=12, seed=0):
    """n small PNG files (grey and RGB, different sizes) and annotations.csv listing them; returns the CSV path."""
    rng = np.random.default_rng(seed)
    lines = ["filename,label"]
    for i in range(n):
        shape = (5 + i % 3, 7) if i % 2 else (6, 4 + i % 4, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"img{i}.png")
        lines.append(f"img{i}.png,{i % 10}")
    path = folder / "annotations.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def items(dataset):
    return [dataset[i] for i in range(len(dataset))]


def rows_per_worker(stream, workers):
    loader = DataLoader(stream, batch_size=3, num_workers=workers, multiprocessing_context="fork")
    found = {}
    for batch in loader:
        for worker, row, label in zip(batch["worker"].tolist(), batch["row"].tolist(), batch["label"].tolist(),
                                      strict=True):
            found.setdefault(worker, []).append((row, label))
    return found


# -- the notebook's classes and the package's copies behave the same ----------------------------------

def test_notebook_csv_dataset_equals_package(nb, tmp_path):
    csv_path = write_images(tmp_path)
    transform = nb["v2"].Compose([nb["v2"].ToDtype(torch.float32, scale=True), nb["v2"].Normalize([0.5], [0.5])])
    for kwargs in ({}, {"transform": transform, "target_transform": lambda y: y * 10}):
        ours = items(nb["CsvImageDataset"](csv_path, tmp_path, **kwargs))
        theirs = items(CsvImageDataset(csv_path, tmp_path, **kwargs))
        assert len(ours) == len(theirs) == 12
        for (a, label_a), (b, label_b) in zip(ours, theirs, strict=True):
            assert a.dtype == b.dtype and torch.equal(a, b) and label_a == label_b
    grey, rgb = CsvImageDataset(csv_path, tmp_path)[1][0], CsvImageDataset(csv_path, tmp_path)[0][0]
    assert grey.shape == (1, 6, 7) and rgb.shape == (3, 6, 4) and grey.dtype == torch.uint8
    assert torch.equal(rgb, torch.from_numpy(np.array(Image.open(tmp_path / "img0.png"))).permute(2, 0, 1))


def test_notebook_stream_equals_package_in_process(nb, tmp_path):
    csv_path = write_images(tmp_path)
    for shard in (False, True):
        ours = list(nb["CsvRecordStream"](csv_path, shard=shard))
        assert ours == list(CsvRecordStream(csv_path, shard=shard))
        assert [r["row"] for r in ours] == list(range(12)) and {r["worker"] for r in ours} == {-1}


@pytest.mark.skipif(not HAS_FORK, reason="the notebook's classes reach workers only when they are forked")
@pytest.mark.parametrize("workers", [2])  # more workers than CI's 2 cores only makes torch warn
def test_notebook_stream_shards_equal_package(nb, tmp_path, workers):
    csv_path = write_images(tmp_path)
    ours = rows_per_worker(nb["CsvRecordStream"](csv_path, shard=True), workers)
    theirs = rows_per_worker(CsvRecordStream(csv_path, shard=True), workers)
    assert ours == theirs
    assert sorted(ours) == list(range(workers))
    assert sorted(row for rows in ours.values() for row, _ in rows) == list(range(12)), "each row exactly once"
    unsharded = rows_per_worker(nb["CsvRecordStream"](csv_path, shard=False), workers)
    assert unsharded == rows_per_worker(CsvRecordStream(csv_path, shard=False), workers)
    assert set(Counter(row for rows in unsharded.values() for row, _ in rows).values()) == {workers}


def same_function(a, b, x):
    for train in (False, True):
        a.train(train)
        b.train(train)
        torch.manual_seed(0)
        out_a = a(x)
        torch.manual_seed(0)
        if not torch.allclose(out_a, b(x), atol=1e-6):
            return False
    return True


def test_notebook_cnn_is_fashion_cnn(nb):
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for source, target in ((nb["CNN"](), cu.FashionCNN()), (cu.FashionCNN(), nb["CNN"]())):
        target.load_state_dict(source.state_dict())  # strict: same names and shapes
        assert same_function(source, target, x)
    assert cu.count_parameters(cu.FashionCNN()) == 421642
    assert not any(isinstance(m, nn.BatchNorm2d) for m in cu.FashionCNN().modules())


def test_fashion_cnn_differs_from_a_different_network():
    """The behavioural check can fail: average pooling or a moved dropout gives other outputs."""
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    reference, avg = cu.FashionCNN(), cu.FashionCNN()
    avg.pool = nn.AvgPool2d(2)
    avg.load_state_dict(reference.state_dict())
    assert not same_function(reference, avg, x)


def test_new_cnn_is_cnn_with_average_pooling(nb):
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    new, avg = nb["newCNN"](), nb["CNN"]()
    avg.pool = nn.AvgPool2d(2)
    avg.load_state_dict(new.state_dict())
    assert same_function(new, avg, x)
    maps = torch.randn(4, 3, 28, 28)
    assert torch.allclose(nn.AdaptiveAvgPool2d((14, 14))(maps), nn.AvgPool2d(2)(maps), atol=1e-6)
    assert torch.allclose(nn.AdaptiveAvgPool2d((7, 7))(maps[..., :14, :14]), nn.AvgPool2d(2)(maps[..., :14, :14]),
                          atol=1e-6)


def test_hand_written_early_stopping_equals_fit(tmp_path):
    """The notebook's loop and cu.fit(patience=..., checkpoint_path=...) stop at the same epoch with the same weights.

    Random labels on a tiny training set make the validation loss rise after a few epochs, so early
    stopping really ends the training here (in any run mode).
    """
    space = nbkit.exec_cells(NOTEBOOK, [r"^import csv$", r"^def train_with_early_stopping\("],
                             {"__name__": "__notebook__", "EPOCHS": 30, "PATIENCE": 2, "device": torch.device("cpu")})
    g = torch.Generator().manual_seed(0)
    train = torch.utils.data.TensorDataset(torch.randn(64, 8, generator=g), torch.randint(0, 3, (64,), generator=g))
    val = torch.utils.data.TensorDataset(torch.randn(64, 8, generator=g), torch.randint(0, 3, (64,), generator=g))
    val_loader = DataLoader(val, batch_size=32)
    space["val_loader"] = val_loader

    def run(by_hand):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Dropout(0.25), nn.Linear(64, 3))
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        loader = DataLoader(train, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
        if by_hand:
            log, best = space["train_with_early_stopping"](model, optimizer, loader, tmp_path / "hand.pt")
            return model, len(log), best
        history = cu.fit(model, loader, val_loader, optimizer, epochs=30, patience=2,
                         checkpoint_path=tmp_path / "fit.pt", progress=False)
        assert history.stop_reason == "early_stopping"
        return model, len(history["epoch"]), history.best_epoch

    (hand, hand_epochs, hand_best), (fitted, fit_epochs, fit_best) = run(True), run(False)
    assert hand_epochs < 30, "the test's setup must make early stopping end the training"
    assert (hand_epochs, hand_best) == (fit_epochs, fit_best) and hand_epochs == hand_best + 2
    for a, b in zip(hand.state_dict().values(), fitted.state_dict().values(), strict=True):
        assert torch.equal(a, b)


# -- bad input: errors that name the file and the line ------------------------------------------------

@pytest.mark.parametrize("body, message", [
    ("img0.png,3\nimg1.png,shoe\n", r"line 3.*'shoe'"),
    ("img0.png,3\nimg1.png,-1\n", r"line 3.*'-1'"),
    ("img0.png,3\nimg1.png,2.5\n", r"line 3.*'2.5'"),
    ("img0.png,3\nimg1.png\n", r"line 3.*missing"),
    ("img0.png,3\nimg1.png,\n", r"line 3.*missing"),
    ("img0.png,3\n,4\n", r"line 3.*missing"),
    ("img0.png,3\nimg,1.png,4\n", r"line 3.*more fields"),
])
def test_bad_rows_name_file_and_line(tmp_path, body, message):
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("filename,label\n" + body)
    with pytest.raises(ValueError, match=r"labels\.csv, " + message):
        CsvImageDataset(csv_path, tmp_path)
    with pytest.raises(ValueError, match=r"labels\.csv, " + message):
        list(CsvRecordStream(csv_path))


def test_bad_header_and_empty_file(tmp_path):
    (tmp_path / "a.csv").write_text("name,class\nx.png,1\n")
    with pytest.raises(ValueError, match=r"a\.csv.*lacks the column\(s\) \['filename', 'label'\]"):
        CsvImageDataset(tmp_path / "a.csv", tmp_path)
    (tmp_path / "b.csv").write_text("filename,label\n")
    with pytest.raises(ValueError, match=r"b\.csv has a header but no rows"):
        CsvImageDataset(tmp_path / "b.csv", tmp_path)


@pytest.mark.parametrize("bad_label", ["shoe", "", "-1"])
def test_notebook_dataset_bad_rows_name_file_and_line(nb, tmp_path, bad_label):
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(f"filename,label\nimg0.png,3\nimg1.png,{bad_label}\n")
    with pytest.raises(ValueError, match=r"labels\.csv, line 3"):
        nb["CsvImageDataset"](csv_path, tmp_path)


def unreadable(folder, kind):
    path = folder / f"{kind}.png"
    if kind == "text":
        path.write_text("not an image")
    elif kind == "truncated":
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(path)
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "empty":
        path.write_bytes(b"")
    return path  # kind == "missing": no file at all


@pytest.mark.parametrize("kind", ["missing", "text", "truncated", "empty"])
def test_unreadable_images_name_image_file_and_line(nb, tmp_path, kind):
    write_images(tmp_path, n=2)
    path = unreadable(tmp_path, kind)
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(f"filename,label\nimg0.png,1\n{path.name},2\n")
    expected = rf"labels\.csv, line 3.*{path.name}"
    for cls in (CsvImageDataset, nb["CsvImageDataset"]):
        dataset = cls(csv_path, tmp_path)
        assert dataset[0][1] == 1, "the good row still loads"
        with pytest.raises(OSError, match=expected):
            dataset[1]
    with pytest.raises(OSError, match=expected):
        list(CsvRecordStream(csv_path, tmp_path))


def test_images_are_read_without_deprecation_warnings(nb, tmp_path):
    csv_path = write_images(tmp_path, n=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items(CsvImageDataset(csv_path, tmp_path))
        items(nb["CsvImageDataset"](csv_path, tmp_path))
        list(CsvRecordStream(csv_path, tmp_path))
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert not deprecations, [str(w.message)[:120] for w in deprecations]


# -- workers: what must be importable, and what PyTorch seeds -----------------------------------------

def test_spawn_workers_accept_a_batch_sampler_that_cannot_be_imported(tmp_path):
    """Samplers run in the main process: a class local to this function works with spawn workers."""
    csv_path = write_images(tmp_path, n=6)

    class LocalBatches:  # not importable by name (defined inside a function)
        def __iter__(self):
            return iter([[5, 4], [3], [2, 1, 0]])

        def __len__(self):
            return 3

    dataset = CsvImageDataset(csv_path, tmp_path)  # what goes to the workers is importable; the sampler is not
    loader = DataLoader(dataset, batch_sampler=LocalBatches(), num_workers=2, multiprocessing_context="spawn",
                        collate_fn=cu.pad_collate)
    labels = [batch[1].tolist() for batch in loader]
    assert labels == [[5, 4], [3], [2, 1, 0]]


class Draws(Dataset):
    def __init__(self):
        self.rng = np.random.default_rng(0)  # owned by the dataset: copied into every worker

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return (torch.utils.data.get_worker_info().id, torch.randint(10**6, ()).item(), random.randrange(10**6),
                int(np.random.randint(10**6)), int(self.rng.integers(10**6)))


@pytest.mark.skipif(not HAS_FORK, reason="uses fork workers")
def test_pytorch_seeds_torch_random_and_numpy_in_each_worker():
    """What seed_worker's docstring and notebook 08 say: torch, random and NumPy's global generator are
    seeded per worker from the DataLoader's generator; a generator the dataset owns is not."""
    def run(seed):
        loader = DataLoader(Draws(), batch_size=2, num_workers=2, multiprocessing_context="fork",
                            generator=torch.Generator().manual_seed(seed))
        return [tuple(column[0].item() for column in batch) for batch in loader]  # each worker's first item

    first, again, other = run(0), run(0), run(1)
    assert [row[0] for row in first] == [0, 1]
    for column in (1, 2, 3):  # torch, random, np.random: different in each worker, reproducible from the seed
        assert first[0][column] != first[1][column]
        assert [row[column] for row in first] != [row[column] for row in other]
    assert first == again
    assert first[0][4] == first[1][4] == other[0][4], "the dataset's own generator draws the same in every worker"
