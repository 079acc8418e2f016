import pickle
from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import course_utils as cu
from course_utils.sampling import (
    UNLABELED,
    CsvImageDataset,
    CsvRecordStream,
    LabeledUnlabeledBatchSampler,
    MaskedLabels,
    pad_collate,
    seed_worker,
)


def pools(n=100, labeled_every=10):
    labeled = np.arange(0, n, labeled_every)
    unlabeled = np.setdiff1d(np.arange(n), labeled)
    return labeled, unlabeled


# -- LabeledUnlabeledBatchSampler ---------------------------------------------------------------

def test_batches_are_homogeneous_and_cover_every_index_once():
    labeled, unlabeled = pools(103, 10)
    sampler = LabeledUnlabeledBatchSampler(labeled, unlabeled, batch_size=4, generator=torch.Generator().manual_seed(0))
    labeled_set = set(labeled.tolist())
    seen = Counter()
    kinds = []
    for batch in sampler:
        flags = {i in labeled_set for i in batch}
        assert len(flags) == 1, f"mixed batch {batch}"
        assert 1 <= len(batch) <= 4
        kinds.append(flags.pop())
        seen.update(batch)
    assert sorted(seen) == list(range(103))
    assert set(seen.values()) == {1}
    assert kinds == sampler.schedule()


def test_len_counts_partial_batches():
    labeled, unlabeled = pools(103, 10)  # 11 labeled, 92 unlabeled
    sampler = LabeledUnlabeledBatchSampler(labeled, unlabeled, batch_size=4)
    assert len(sampler) == 3 + 23 == len(list(sampler))


def test_interleaves_at_natural_ratio():
    labeled, unlabeled = np.arange(0, 10), np.arange(10, 100)  # 10 vs 90 batches of 1
    schedule = LabeledUnlabeledBatchSampler(labeled, unlabeled, batch_size=1).schedule()
    positions = np.flatnonzero(schedule)
    assert len(positions) == 10
    gaps = np.diff(positions)
    assert gaps.min() >= 9 and gaps.max() <= 11, "labeled batches should be spread evenly"


def test_deterministic_with_seeded_generator():
    labeled, unlabeled = pools(60, 6)
    a = LabeledUnlabeledBatchSampler(labeled, unlabeled, 5, generator=torch.Generator().manual_seed(1))
    b = LabeledUnlabeledBatchSampler(labeled, unlabeled, 5, generator=torch.Generator().manual_seed(1))
    epoch_a1, epoch_a2 = list(a), list(a)
    assert epoch_a1 == list(b) and epoch_a2 == list(b)
    assert epoch_a1 != epoch_a2, "successive epochs should be shuffled differently"


def test_no_shuffle_keeps_order():
    sampler = LabeledUnlabeledBatchSampler([0, 1, 2], [3, 4, 5, 6], batch_size=2, shuffle=False)
    assert sorted(map(tuple, sampler)) == [(0, 1), (2,), (3, 4), (5, 6)]


def test_is_labeled_batch():
    sampler = LabeledUnlabeledBatchSampler([0, 1], [2, 3], batch_size=2)
    assert sampler.is_labeled_batch([0, 1]) is True
    assert sampler.is_labeled_batch([3]) is False
    with pytest.raises(ValueError, match="mixed"):
        sampler.is_labeled_batch([0, 3])


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(labeled_indices=[], unlabeled_indices=[1, 2], batch_size=2), ValueError, "labeled_indices is empty"),
    (dict(labeled_indices=[0], unlabeled_indices=[], batch_size=2), ValueError, "unlabeled_indices is empty"),
    (dict(labeled_indices=[0], unlabeled_indices=[1], batch_size=0), ValueError, "positive integer"),
    (dict(labeled_indices=[0], unlabeled_indices=[1], batch_size=-3), ValueError, "positive integer"),
    (dict(labeled_indices=[0], unlabeled_indices=[1], batch_size=2.5), ValueError, "positive integer"),
    (dict(labeled_indices=[0, 1], unlabeled_indices=[1, 2], batch_size=2), ValueError, "overlap"),
    (dict(labeled_indices=[0, 0], unlabeled_indices=[1, 2], batch_size=2), ValueError, "duplicate"),
    (dict(labeled_indices=[0], unlabeled_indices=[1, 10], batch_size=2, num_samples=10), IndexError, r"0\.\.9"),
    (dict(labeled_indices=[-1], unlabeled_indices=[1], batch_size=2), IndexError, "negative"),
    (dict(labeled_indices=[0.5], unlabeled_indices=[1], batch_size=2), TypeError, "integer"),
])
def test_bad_arguments_raise_clear_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        LabeledUnlabeledBatchSampler(**kwargs)


def test_sampler_with_dataloader_and_masked_labels():
    images = torch.arange(20, dtype=torch.float32).view(20, 1)
    labels = torch.arange(20) % 3
    labeled, unlabeled = np.arange(0, 20, 4), np.setdiff1d(np.arange(20), np.arange(0, 20, 4))
    dataset = MaskedLabels(TensorDataset(images, labels), labeled)
    sampler = LabeledUnlabeledBatchSampler(labeled, unlabeled, 3, generator=torch.Generator().manual_seed(0),
                                           num_samples=len(dataset))
    seen = []
    for x, y in DataLoader(dataset, batch_sampler=sampler):
        assert (y >= 0).all() or (y == UNLABELED).all()
        if (y >= 0).all():
            assert torch.equal(y, x.view(-1).long() % 3)
        seen += x.view(-1).long().tolist()
    assert sorted(seen) == list(range(20))


def test_masked_labels_checks_range():
    with pytest.raises(IndexError):
        MaskedLabels(TensorDataset(torch.zeros(5, 1), torch.zeros(5, dtype=torch.long)), [5])


# -- pickling (spawn on Windows/macOS pickles what goes to workers) -------------------------------------

def test_objects_pickle_round_trip(tmp_path):
    csv_path = write_tiny_csv(tmp_path)
    labeled, unlabeled = pools(30, 3)
    sampler = LabeledUnlabeledBatchSampler(labeled, unlabeled, 4, generator=torch.Generator().manual_seed(3))
    clone = pickle.loads(pickle.dumps(sampler))
    assert list(clone) == list(sampler)
    for obj in (CsvImageDataset(csv_path, tmp_path), CsvRecordStream(csv_path, tmp_path),
                MaskedLabels(TensorDataset(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long)), [0, 2])):
        assert type(pickle.loads(pickle.dumps(obj))) is type(obj)
    assert pickle.loads(pickle.dumps(pad_collate)) is pad_collate
    assert pickle.loads(pickle.dumps(seed_worker)) is seed_worker


def test_spawn_worker_loads_module_objects(tmp_path):
    csv_path = write_tiny_csv(tmp_path, n=6)
    dataset = MaskedLabels(CsvImageDataset(csv_path, tmp_path), [0, 1, 2])
    sampler = LabeledUnlabeledBatchSampler([0, 1, 2], [3, 4, 5], 2, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=1, multiprocessing_context="spawn",
                        worker_init_fn=seed_worker, collate_fn=pad_collate)
    batches = list(loader)
    assert len(batches) == 4
    assert sorted(int(v) for _, y, _ in batches for v in y) == [-1, -1, -1, 0, 1, 2]


# -- the CSV datasets and pad_collate -----------------------------------------------------------------

def write_tiny_csv(folder, n=6):
    from PIL import Image  # not torchvision.io.write_png: deprecated since torchvision 0.29

    lines = ["filename,label"]
    for i in range(n):
        Image.fromarray(np.full((4 + i, 5), i * 10, dtype=np.uint8)).save(folder / f"img_{i}.png")
        lines.append(f"img_{i}.png,{i % 3}")
    path = folder / "annotations.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_image_dataset(tmp_path):
    csv_path = write_tiny_csv(tmp_path)
    dataset = CsvImageDataset(csv_path, tmp_path, transform=lambda x: x.float() / 255,
                              target_transform=lambda y: y + 100)
    assert len(dataset) == 6
    image, label = dataset[2]
    assert image.shape == (1, 6, 5) and label == 102
    assert torch.allclose(image, torch.full_like(image, 20 / 255))


def test_csv_image_dataset_bad_header(tmp_path):
    (tmp_path / "a.csv").write_text("file,y\nx.png,1\n")
    with pytest.raises(ValueError, match="filename"):
        CsvImageDataset(tmp_path / "a.csv", tmp_path)


@pytest.mark.parametrize("shard, expected_copies", [(True, 1), (False, 2)])
def test_csv_record_stream_sharding(tmp_path, shard, expected_copies):
    csv_path = write_tiny_csv(tmp_path, n=7)
    stream = CsvRecordStream(csv_path, shard=shard)
    rows = [r["row"] for r in stream]
    assert rows == list(range(7)), "the main process reads every row once"
    loader = DataLoader(stream, batch_size=2, num_workers=2)
    counts = Counter(int(r) for batch in loader for r in batch["row"])
    assert sorted(counts) == list(range(7)) and set(counts.values()) == {expected_copies}


def test_pad_collate():
    batch = [(torch.ones(1, 2, 3), 0), (torch.ones(1, 4, 2), 1)]
    padded, labels, sizes = pad_collate(batch)
    assert padded.shape == (2, 1, 4, 3)
    assert labels.tolist() == [0, 1]
    assert sizes.tolist() == [[1, 2, 3], [1, 4, 2]]
    assert padded[0].sum() == 6 and padded[1].sum() == 8
    with pytest.raises(ValueError):
        pad_collate([])
    with pytest.raises(ValueError, match="dimensions"):
        pad_collate([(torch.ones(2), 0), (torch.ones(2, 2), 1)])


def test_seed_worker_seeds_numpy():
    torch.manual_seed(5)
    seed_worker(0)
    a = np.random.rand()
    torch.manual_seed(5)
    seed_worker(0)
    assert np.random.rand() == a


def test_exported_from_package():
    assert cu.LabeledUnlabeledBatchSampler is LabeledUnlabeledBatchSampler and cu.UNLABELED == -1
