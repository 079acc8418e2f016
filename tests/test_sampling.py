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
    MaskedLabels,
    pad_collate,
    seed_worker,
)

# -- MaskedLabels (the batch sampler over two pools is written in notebook 09) -------------------------

def test_masked_labels_with_dataloader():
    images = torch.arange(20, dtype=torch.float32).view(20, 1)
    labels = torch.arange(20) % 3
    labeled = np.arange(0, 20, 4)
    dataset = MaskedLabels(TensorDataset(images, labels), labeled)
    seen = []
    for x, y in DataLoader(dataset, batch_size=3):
        index = x.view(-1).long()
        expected = torch.where(index % 4 == 0, index % 3, torch.full_like(index, UNLABELED))
        assert torch.equal(y, expected), "labels kept for the labeled indices, -1 elsewhere"
        seen += index.tolist()
    assert sorted(seen) == list(range(20))


def test_masked_labels_checks_range():
    with pytest.raises(IndexError):
        MaskedLabels(TensorDataset(torch.zeros(5, 1), torch.zeros(5, dtype=torch.long)), [5])


# -- pickling (spawn on Windows/macOS pickles what goes to workers) -------------------------------------

def test_objects_pickle_round_trip(tmp_path):
    csv_path = write_tiny_csv(tmp_path)
    for obj in (CsvImageDataset(csv_path, tmp_path), CsvRecordStream(csv_path, tmp_path),
                MaskedLabels(TensorDataset(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long)), [0, 2])):
        assert type(pickle.loads(pickle.dumps(obj))) is type(obj)
    assert pickle.loads(pickle.dumps(pad_collate)) is pad_collate
    assert pickle.loads(pickle.dumps(seed_worker)) is seed_worker


def test_spawn_worker_loads_module_objects(tmp_path):
    csv_path = write_tiny_csv(tmp_path, n=6)
    dataset = MaskedLabels(CsvImageDataset(csv_path, tmp_path), [0, 1, 2])
    index_batches = [[0, 1], [3, 4], [2], [5]]  # a batch sampler (here a list) stays in the main process
    loader = DataLoader(dataset, batch_sampler=index_batches, num_workers=1, multiprocessing_context="spawn",
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
    assert cu.MaskedLabels is MaskedLabels and cu.UNLABELED == -1
