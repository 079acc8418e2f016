"""Bad inputs to the data, layout, metric, plotting and pretrained helpers: clear errors, nothing lost."""
import gzip
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from test_data import _fake_cifar10, _write_idx  # noqa: E402

import course_utils as cu  # noqa: E402
from course_utils import data, pretrained  # noqa: E402


def _files(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def no_download(monkeypatch):
    """Any download attempt is recorded and fails, as offline."""
    calls = []

    def offline(*args, **kwargs):
        calls.append(args)
        raise OSError("offline in this test")

    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", offline)
    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", offline)
    return calls


# -- image layouts ------------------------------------------------------------------------------------

def test_channel_stats_reads_nchw_arrays_and_checks_the_channel_axis(uint8_images):
    nhwc = cu.channel_stats(uint8_images)
    nchw = cu.channel_stats(uint8_images.transpose(0, 3, 1, 2).copy())
    assert nchw[0].shape == (3,), "three channels, not eight"
    torch.testing.assert_close(nhwc, nchw)
    with pytest.raises(ValueError, match=r"channel_stats: layout='NHWC' puts 8 channels in shape \(50, 3, 8, 8\), but "
                                         r"images have 1, 3 or 4\. The shape looks like NCHW: pass layout='NCHW'"):
        cu.channel_stats(uint8_images.transpose(0, 3, 1, 2), layout="NHWC")
    with pytest.raises(ValueError, match=r"cannot tell from shape \(4, 8, 8, 8\) .* neither of those axes"):
        cu.channel_stats(np.zeros((4, 8, 8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(8, 8, 3\) is ambiguous: one color image, or 8 grey images\?"):
        cu.channel_stats(uint8_images[0])


def test_channel_stats_dataset_of_channels_last_tensors():
    dataset = torch.utils.data.TensorDataset(torch.rand(6, 8, 8, 3), torch.zeros(6))
    with pytest.raises(ValueError, match=r"images have shape \(8, 8, 3\), but \(C, H, W\) with 1, 3 or 4 channels"):
        cu.channel_stats(dataset)


def test_gpu_loader_layout_that_contradicts_the_shape(uint8_images):
    nchw = uint8_images.transpose(0, 3, 1, 2)
    with pytest.raises(ValueError, match=r"GPULoader: layout='NHWC' puts 8 channels in shape \(50, 3, 8, 8\)"):
        cu.GPULoader(nchw, np.zeros(50, int), layout="NHWC")
    x, _ = next(iter(cu.GPULoader(nchw, np.zeros(50, int), layout="NCHW", batch_size=4)))
    assert x.shape == (4, 3, 8, 8)
    with pytest.raises(ValueError, match=r"labels must be class indices 0, 1, 2, \.\.\.; found -1"):
        cu.GPULoader(uint8_images, np.full(50, -1))


def test_show_images_single_image_and_channels_last():
    image = torch.rand(3, 8, 8)
    with pytest.raises(ValueError, match=r"show_images: shape \(3, 8, 8\) is ambiguous: one color image, or 3 grey "
                                         r"images\? For one image pass a batch of one \(image\[None\]"):
        cu.show_images(image)
    fig = cu.show_images(image[None])
    assert len(fig.axes) == 1 and fig.axes[0].get_images()[0].get_array().shape == (8, 8, 3)
    fig = cu.show_images(torch.rand(2, 8, 8, 3))  # channels-last float tensor: read from the shape
    assert [ax.get_images()[0].get_array().shape for ax in fig.axes] == [(8, 8, 3)] * 2
    with pytest.raises(ValueError, match=r"one grey image of shape \(8, 8\); pass a batch: images\[None\]"):
        cu.show_images(np.zeros((8, 8), np.uint8))


def test_show_images_labels_and_names_must_match():
    images = torch.rand(4, 3, 8, 8)
    with pytest.raises(ValueError, match=r"show_images: 4 images but labels has shape \(3,\); give one per image"):
        cu.show_images(images, labels=[0, 1, 2])
    with pytest.raises(ValueError, match=r"labels range from 0 to 5, but there are 3 classes"):
        cu.show_images(images, labels=[0, 1, 2, 5], class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="preds range from 0 to 9"):
        cu.show_images(images, labels=[0, 1, 2, 0], preds=[0, 1, 9, 0], class_names=["a", "b", "c"])


# -- metrics and plots -------------------------------------------------------------------------------------

def test_per_class_accuracy_refuses_labels_out_of_range():
    with pytest.raises(ValueError, match=r"per_class_accuracy: targets range from 0 to 12, but there are 10 classes "
                                         r"\(0\.\.9\)"):
        cu.per_class_accuracy([0, 1, 12], [0, 1, 12], num_classes=10)
    with pytest.raises(ValueError, match="preds range from -1 to 1"):
        cu.per_class_accuracy([-1, 1], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match="3 predictions but 2 targets"):
        cu.per_class_accuracy([0, 1, 1], [0, 1], num_classes=2)
    with pytest.raises(TypeError, match=r"targets must be integer class indices, got dtype float64 .* Convert with "
                                        r"\.long\(\)"):
        cu.per_class_accuracy([0, 1], [0.0, 1.0], num_classes=2)
    with pytest.raises(ValueError, match=r"preds must be a 1-D sequence .* got shape \(2, 3\)\. Scores or logits .* "
                                         r"outputs\.argmax\(dim=1\)"):
        cu.per_class_accuracy(torch.randn(2, 3), [0, 1], num_classes=3)
    assert cu.per_class_accuracy([0, 1, 1], [0, 1, 0], num_classes=np.int64(2)).tolist() == [0.5, 1.0]


def test_confusion_matrix_and_bars_need_one_name_per_class():
    with pytest.raises(ValueError, match=r"plot_confusion_matrix \(one class name per class\): targets range from 0 "
                                         r"to 3, but there are 3 classes"):
        cu.plot_confusion_matrix([0, 1, 3], [0, 1, 2], ["a", "b", "c"])
    with pytest.raises(ValueError, match="3 targets but 2 predictions"):
        cu.plot_confusion_matrix([0, 1, 2], [0, 1], ["a", "b", "c"])
    with pytest.raises(ValueError, match="plot_per_class_accuracy: 3 accuracies but 2 class names"):
        cu.plot_per_class_accuracy([0.5, 0.6, 0.7], ["a", "b"])


def test_per_class_bars_carry_value_labels_and_a_visible_zero(tmp_path):
    fig = cu.plot_per_class_accuracy([0.0, 0.5, 1.0, 0.25, np.nan], ["cat", "dog", "ship", "frog", "deer"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["deer", "cat", "frog", "dog", "ship"]
    assert [t.get_text() for t in ax.texts] == ["no samples", "0%", "25.0%", "50.0%", "100%"]
    red = matplotlib.colors.to_rgba("tab:red")
    marks = [bar for bar in ax.patches if bar.get_facecolor() == red]
    assert len(marks) == 1 and marks[0].get_width() > 0 and marks[0].get_y() + marks[0].get_height() / 2 == 1
    assert ax.get_xlim()[1] > 1, "room for the label of a 100% bar"
    fig.savefig(tmp_path / "per_class.png")


# -- data -----------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:CIFAR-10. loading an UNVERIFIED")
def test_load_cifar10_accepts_a_root_first_as_torchvision_does(monkeypatch, tmp_path):
    _fake_cifar10(tmp_path)
    monkeypatch.setenv(data.ALLOW_UNVERIFIED_ENV, "1")
    monkeypatch.setenv(data.DATA_ROOT_ENV, str(tmp_path / "elsewhere"))
    assert len(cu.load_cifar10(tmp_path)) == 100 and len(cu.load_cifar10(str(tmp_path), train=False)) == 20
    with pytest.raises(TypeError, match=r"root must be a folder path, got False\. To choose the split, pass "
                                        r"train=True or train=False by name"):
        cu.load_cifar10(False)
    with pytest.raises(TypeError, match="positional argument"):
        cu.load_cifar10(tmp_path, False)


def test_data_root_that_is_a_file(monkeypatch, tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("not a folder")
    monkeypatch.setenv(data.DATA_ROOT_ENV, str(file))
    for load in (cu.load_cifar10, cu.load_fashion_mnist, cu.data_root):
        with pytest.raises(cu.DatasetNotAvailableError, match=rf"COURSE_DATA_ROOT {file} is a file, not a folder"):
            load()
    assert file.read_text() == "not a folder"
    with pytest.raises(cu.DatasetNotAvailableError, match="root .* is a file, not a folder"):
        cu.load_cifar100(root=file)


def test_corrupt_cifar_archive_is_not_reported_as_offline(tmp_path, no_download):
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"half a download")
    with pytest.raises(cu.DatasetNotAvailableError, match=r"the archive .*cifar-10-python.tar.gz fails torchvision's "
                                                          r"checksum \(an interrupted download, or another file\)"):
        cu.load_cifar10(root=tmp_path)
    assert no_download == [] and archive.read_bytes() == b"half a download"


@pytest.mark.filterwarnings("ignore:CIFAR-10. loading an UNVERIFIED")
def test_corrupt_or_incomplete_cifar_folder(monkeypatch, tmp_path, no_download):
    folder = _fake_cifar10(tmp_path)
    monkeypatch.setenv(data.ALLOW_UNVERIFIED_ENV, "1")
    content = (folder / "data_batch_2").read_bytes()
    (folder / "data_batch_2").write_bytes(content[: len(content) // 2])
    before = _files(tmp_path)
    with pytest.raises(cu.DatasetNotAvailableError, match=r"CIFAR-10: the files in .* cannot be read .* truncated or "
                                                          r"corrupt\. Delete the folder"):
        cu.load_cifar10(root=tmp_path)
    assert _files(tmp_path) == before
    (folder / "data_batch_2").unlink()
    with pytest.raises(cu.DatasetNotAvailableError, match=r"cifar-10-batches-py exists but lacks data_batch_2"):
        cu.load_cifar10(root=tmp_path)


def _fake_fashion(root: Path):
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.zeros((5, 28, 28), np.uint8)
    for prefix in ("train", "t10k"):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images, 2051)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(5), 2049)
    return raw


def test_corrupt_fashion_mnist_files(tmp_path, no_download):
    raw = _fake_fashion(tmp_path)
    content = (raw / "train-images-idx3-ubyte").read_bytes()
    (raw / "train-images-idx3-ubyte").write_bytes(content[:1000])
    before = _files(tmp_path)
    with pytest.raises(cu.DatasetNotAvailableError, match=r"Fashion-MNIST: the files in .* cannot be read .* "
                                                          r"truncated or corrupt"):
        cu.load_fashion_mnist(root=tmp_path)
    assert _files(tmp_path) == before and no_download == []
    for f in raw.iterdir():
        f.unlink()
    (raw / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"not the real file"))
    with pytest.raises(cu.DatasetNotAvailableError, match=r"train-images-idx3-ubyte.gz fails torchvision's checksum"):
        cu.load_fashion_mnist(root=tmp_path)
    assert no_download == []


# -- pretrained weights by name ----------------------------------------------------------------------

@pytest.mark.parametrize("builder, weights", [
    ("resnet18", "DEFAULT"), ("resnet18", "IMAGENET1K_V1"), ("resnet18", "ResNet18_Weights.IMAGENET1K_V1"),
])
def test_pretrained_accepts_the_names_torchvision_accepts(monkeypatch, tmp_path, capsys, builder, weights):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache: the offline fallback
    model, source = cu.build_pretrained(builder, weights, allow_download=False)
    assert source == pretrained.RANDOM_OFFLINE and model.fc.out_features == 1000
    assert "resnet18(ResNet18_Weights.IMAGENET1K_V1): pretrained weights not found" in capsys.readouterr().out


def test_pretrained_wrong_weights_are_named(monkeypatch, tmp_path):
    from torchvision.models import VGG16_Weights, resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ValueError, match=r"resnet18 has no weights 'IMAGENET1K_V2'; it accepts DEFAULT, IMAGENET1K_V1"):
        cu.build_pretrained(resnet18, "IMAGENET1K_V2")
    with pytest.raises(ValueError, match="resnet18 has no weights VGG16_Weights.IMAGENET1K_V1"):
        cu.build_pretrained(resnet18, VGG16_Weights.DEFAULT)
    with pytest.raises(ValueError, match="torchvision has no model 'resnet1'"):
        cu.build_pretrained("resnet1", "DEFAULT")
    with pytest.raises(ValueError, match=r"build_pretrained needs weights.* call resnet18\(weights=None\)"):
        cu.build_pretrained(resnet18, None)
    assert list(tmp_path.iterdir()) == [], "nothing downloaded or written"



# -- NumPy integers, generators and Subsets --------------------------------------------------------------

def test_seed_everything_takes_numpy_integers():
    def draws(seed):
        cu.seed_everything(seed)
        return torch.rand(2).tolist(), np.random.rand(), __import__("random").random()

    assert draws(np.int64(3)) == draws(3)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="seed must be a non-negative integer"):
            cu.seed_everything(bad)


def test_gpu_loader_takes_numpy_integers(uint8_images):
    labels = np.arange(50) % 10

    def batches(whole):
        loader = cu.GPULoader(uint8_images, labels, batch_size=whole(16), crop_padding=whole(2), seed=whole(5),
                              resize=whole(12), shuffle=True, flip=True)
        assert type(loader.batch_size) is int and len(loader) == 4
        return list(loader)

    for (x, y), (xn, yn) in zip(batches(int), batches(np.int64), strict=True):
        assert torch.equal(x, xn) and torch.equal(y, yn) and x.shape[-1] == 12
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 16.0"):
        cu.GPULoader(uint8_images, labels, batch_size=16.0)


class _Stored(torch.utils.data.Dataset):
    """A dataset holding its images in .data and labels in .targets, as torchvision's CIFAR10 does."""

    def __init__(self, images, targets):
        self.data, self.targets = images, targets

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        return self.data[index], self.targets[index]


def test_gpu_loader_from_a_subset(uint8_images):
    dataset = _Stored(uint8_images, list(range(50)))
    inner = torch.utils.data.Subset(dataset, np.arange(10, 40))
    outer = torch.utils.data.Subset(inner, [2, 0, 5])  # dataset items 12, 10, 15
    x, y = next(iter(cu.GPULoader.from_dataset(outer, batch_size=8)))
    expected, labels = next(iter(cu.GPULoader.from_dataset(dataset, indices=[12, 10, 15], batch_size=8)))
    assert y.tolist() == labels.tolist() == [12, 10, 15] and torch.equal(x, expected)
    _, y = next(iter(cu.GPULoader.from_dataset(inner, indices=np.array([1, 3]), batch_size=8)))
    assert y.tolist() == [11, 13]


def test_channel_stats_batch_size(uint8_images):
    expected = cu.channel_stats(uint8_images)
    torch.testing.assert_close(cu.channel_stats(uint8_images, batch_size=np.int64(7)), expected)
    dataset = torch.utils.data.TensorDataset(torch.as_tensor(uint8_images).permute(0, 3, 1, 2).float() / 255,
                                             torch.zeros(50))
    torch.testing.assert_close(cu.channel_stats(dataset, batch_size=np.int64(7)), expected)
    with pytest.raises(ValueError, match="channel_stats: batch_size must be a whole number of at least 1, got 0"):
        cu.channel_stats(uint8_images, batch_size=0)


def test_channel_stats_on_datasets_it_cannot_batch():
    from PIL import Image

    pictures = [(Image.new("RGB", (8, 8)), 0)] * 4
    with pytest.raises(TypeError, match=r"channel_stats: the dataset returns PIL images; add transforms\.ToTensor\(\) "
                                        r"to its transform, or pass its uint8 \.data array"):
        cu.channel_stats(pictures)
    with pytest.raises(TypeError, match=r"or pass dataset\.data\[subset\.indices\]"):
        cu.channel_stats(torch.utils.data.Subset(pictures, [0, 1]))
    sizes = [(torch.rand(3, 8, 8), 0), (torch.rand(3, 6, 8), 1)]
    with pytest.raises(ValueError, match=r"channel_stats: the dataset's images differ in size, so they cannot be "
                                         r"stacked into batches; add a transform that gives them one size"):
        cu.channel_stats(sizes)
    torch.testing.assert_close(cu.channel_stats(sizes, batch_size=1)[0],
                               torch.cat([sizes[0][0].flatten(1), sizes[1][0].flatten(1)], 1).mean(1))


def test_splits_take_labels_not_datasets():
    dataset = _Stored(np.zeros((40, 4, 4, 3), np.uint8), [i % 4 for i in range(40)])
    for split in (lambda t: np.concatenate(cu.stratified_split(t, 0.25)), lambda t: cu.balanced_subset(t, 8)):
        with pytest.raises(TypeError, match=r"targets is a _Stored \(a Dataset\); pass its labels, e\.g\. "
                                            r"cu\.targets_of\(dataset\)"):
            split(dataset)
        from_list = split(dataset.targets)
        np.testing.assert_array_equal(split(t for t in dataset.targets), from_list)  # a generator works too
        np.testing.assert_array_equal(split(torch.tensor(dataset.targets)), from_list)
    np.testing.assert_array_equal(cu.balanced_subset(dataset.targets, np.int64(8)),
                                  cu.balanced_subset(dataset.targets, 8))
    np.testing.assert_array_equal(cu.stratified_split(dataset.targets, np.int64(8))[1],
                                  cu.stratified_split(dataset.targets, 8)[1])
    with pytest.raises(ValueError, match=r"balanced_subset: size must be a whole number between 1 and 40, got 0\.25\. "
                                         r"It is a number of samples: for a fraction, pass round\(0\.25 \* len"):
        cu.balanced_subset(dataset.targets, 0.25)


def test_check_full_mode_refuses_an_unknown_run_mode():
    with pytest.raises(ValueError, match=r"check_full_mode: run_mode must be one of \('smoke', 'fast', 'full'\) "
                                         r"\(cu\.resolve_run_mode\(\) gives one\), got 'Full'"):
        cu.check_full_mode(False, "LeNet reaches 55%", run_mode="Full", measured=True)
    assert cu.check_full_mode(False, "LeNet reaches 55%", run_mode="fast", measured=True) is None
