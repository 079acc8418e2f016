import pickle
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import course_utils.data as data


def test_data_root_prefers_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_ROOT", str(tmp_path))
    assert data.data_root() == tmp_path.resolve()


def test_data_root_defaults_to_repo_data_from_any_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert data.data_root() == Path(__file__).resolve().parent.parent / "data"


def test_data_root_outside_a_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA_ROOT", raising=False)
    monkeypatch.setattr(data, "_REPO_ROOT", tmp_path)  # as if installed into site-packages
    monkeypatch.setattr(data, "detect_platform", lambda: "colab")
    assert data.data_root() == Path("/content/data")
    monkeypatch.setattr(data, "detect_platform", lambda: "local")
    assert data.data_root() == Path.home() / "course_data"


def _fake_cifar10(root: Path, n=20):
    """Write a CIFAR-10 folder in torchvision's layout whose files are NOT the official ones."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": list(range(10)) * (n // 10)}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    return folder


def test_unverified_copy_is_refused_without_opt_in(monkeypatch, tmp_path):
    monkeypatch.delenv(data.ALLOW_UNVERIFIED_ENV, raising=False)
    before = {p.name: p.read_bytes() for p in _fake_cifar10(tmp_path).iterdir()}
    with pytest.raises(data.DatasetNotAvailableError, match="COURSE_ALLOW_UNVERIFIED_DATA=1"):
        data.load_cifar10(root=tmp_path)
    after = {p.name: p.read_bytes() for p in (tmp_path / "cifar-10-batches-py").iterdir()}
    assert before == after  # nothing deleted or re-downloaded over the user's files


def test_unverified_copy_loads_with_opt_in_and_warns(monkeypatch, tmp_path):
    _fake_cifar10(tmp_path)
    monkeypatch.setenv(data.ALLOW_UNVERIFIED_ENV, "1")
    with pytest.warns(UserWarning, match="UNVERIFIED"):
        train = data.load_cifar10(train=True, root=tmp_path)
    test = data.load_cifar10(train=False, root=tmp_path)
    assert len(train) == 100 and len(test) == 20
    assert train.data.shape == (100, 32, 32, 3) and train.classes[0] == "c0"
    assert pickle.loads(pickle.dumps(train)).data.shape == train.data.shape  # picklable for workers
    assert isinstance(train, torch.utils.data.Dataset)


def test_missing_data_offline_gives_clear_error(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", offline)
    with pytest.raises(data.DatasetNotAvailableError) as info:
        data.load_cifar100(root=tmp_path)
    message = str(info.value)
    assert "CIFAR-100" in message and str(tmp_path) in message and "cifar-100-python.tar.gz" in message
    with pytest.raises(data.DatasetNotAvailableError, match="could not be downloaded"):
        data.load_cifar10(root=tmp_path, download=False)


def test_fashion_mnist_missing_offline(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", offline)
    with pytest.raises(data.DatasetNotAvailableError, match="train-images-idx3-ubyte.gz"):
        data.load_fashion_mnist(root=tmp_path)


def test_channel_stats_exact_on_uint8_array(uint8_images):
    mean, std = data.channel_stats(uint8_images, batch_size=7)  # chunks that do not divide N
    ref = uint8_images.astype(np.float64) / 255
    np.testing.assert_allclose(mean.numpy(), ref.mean(axis=(0, 1, 2)), atol=1e-6)
    np.testing.assert_allclose(std.numpy(), ref.std(axis=(0, 1, 2)), atol=1e-6)


def test_channel_stats_same_on_dataset_of_tensors(uint8_images):
    tensors = torch.from_numpy(uint8_images).permute(0, 3, 1, 2).float() / 255
    dataset = TensorDataset(tensors, torch.zeros(len(tensors), dtype=torch.long))
    mean_a, std_a = data.channel_stats(uint8_images)
    mean_b, std_b = data.channel_stats(dataset, batch_size=16)
    torch.testing.assert_close(mean_a, mean_b)
    torch.testing.assert_close(std_a, std_b)


def test_channel_stats_grayscale_and_errors():
    gray = np.full((4, 5, 5), 51, dtype=np.uint8)
    mean, std = data.channel_stats(gray)
    assert mean.shape == (1,) and mean.item() == pytest.approx(0.2) and std.item() == pytest.approx(0.0)
    with pytest.raises(TypeError, match="uint8"):
        data.channel_stats(gray.astype(np.float32))
    with pytest.raises(ValueError, match="empty"):
        data.channel_stats(np.zeros((0, 4, 4, 3), dtype=np.uint8))
    pil_like = TensorDataset(torch.zeros(3, 4, 4, dtype=torch.uint8), torch.zeros(3))
    with pytest.raises(TypeError, match="ToTensor"):
        data.channel_stats(pil_like)


def test_stratified_split_keeps_proportions_and_is_deterministic():
    targets = np.repeat(np.arange(4), [100, 50, 30, 20])
    train, val = data.stratified_split(targets, val_size=0.2, seed=1)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == len(targets)
    assert np.bincount(targets[val]).tolist() == [20, 10, 6, 4]
    again = data.stratified_split(targets, val_size=0.2, seed=1)
    assert np.array_equal(val, again[1])
    assert not np.array_equal(val, data.stratified_split(targets, val_size=0.2, seed=2)[1])


def test_balanced_subset():
    targets = np.repeat(np.arange(3), 10)
    subset = data.balanced_subset(targets, 7, seed=0)
    assert np.bincount(targets[subset]).tolist() == [3, 2, 2]
    assert np.array_equal(subset, data.balanced_subset(targets, 7, seed=0))
    assert len(set(subset.tolist())) == 7
    with pytest.raises(ValueError, match="between 1 and 30"):
        data.balanced_subset(targets, 31)


def test_targets_of_subset_and_tensordataset():
    ds = TensorDataset(torch.zeros(5, 1), torch.tensor([4, 3, 2, 1, 0]))
    assert data.targets_of(ds).tolist() == [4, 3, 2, 1, 0]
    assert data.targets_of(torch.utils.data.Subset(ds, [0, 4])).tolist() == [4, 0]


def _write_idx(path: Path, array: np.ndarray, magic: int):
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_loads_through_torchvision(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.arange(5 * 28 * 28, dtype=np.uint64).reshape(5, 28, 28) % 256
    for prefix in ("train", "t10k"):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images, 2051)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.array([0, 1, 2, 3, 9]), 2049)
    train = data.load_fashion_mnist(train=True, root=tmp_path)
    test = data.load_fashion_mnist(train=False, root=tmp_path, download=False)
    assert len(train) == len(test) == 5
    assert train.targets.tolist() == [0, 1, 2, 3, 9] and train.classes[9] == "Ankle boot"
    assert np.array_equal(train.data.numpy(), images.astype(np.uint8))
