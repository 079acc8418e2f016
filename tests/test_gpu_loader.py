"""course_utils.gpu_loader.GPULoader, checked on the CPU (the same code runs on a GPU)."""
import numpy as np
import pytest
import torch

from course_utils import GPULoader


def _data(n=50, size=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    labels = np.arange(n) % 10
    return images, labels


def _ids(n=50, size=8):
    """Each image is constant, equal to its index: a batch tells which images it holds."""
    images = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None], size * size * 3, axis=1)
    return images.reshape(n, size, size, 3), np.arange(n)


def test_shapes_dtypes_and_len():
    images, labels = _data()
    loader = GPULoader(images, labels, batch_size=16)
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    assert [len(x) for x, _ in batches] == [16, 16, 16, 2]
    x, y = batches[0]
    assert x.shape == (16, 3, 8, 8) and x.dtype == torch.float32
    assert y.shape == (16,) and y.dtype == torch.int64
    assert len(GPULoader(images, labels, batch_size=16, drop_last=True)) == 3
    assert [len(x) for x, _ in GPULoader(images, labels, batch_size=16, drop_last=True)] == [16, 16, 16]


def test_layouts_agree_and_values_unchanged_without_augmentation():
    images, labels = _data()
    nhwc = next(iter(GPULoader(images, labels, batch_size=50)))[0]
    nchw = next(iter(GPULoader(torch.from_numpy(images).permute(0, 3, 1, 2), labels, batch_size=50)))[0]
    assert torch.equal(nhwc, nchw)
    assert torch.allclose(nhwc, torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)


def test_value_range_and_normalization():
    images, labels = _data(n=200)
    plain = torch.cat([x for x, _ in GPULoader(images, labels, batch_size=64, crop_padding=2, flip=True)])
    assert plain.min() >= 0 and plain.max() <= 1
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    normed = torch.cat([x for x, _ in GPULoader(images, labels, batch_size=64, mean=mean, std=std)])
    expected = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) \
        / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(normed, expected, atol=1e-6)


@pytest.mark.parametrize("drop_last", [False, True])
def test_every_image_once_per_epoch(drop_last):
    images, ids = _ids()
    loader = GPULoader(images, ids, batch_size=16, shuffle=True, crop_padding=0, flip=True, drop_last=drop_last)
    for _ in range(2):
        seen_labels, seen_pixels = [], []
        for x, y in loader:
            seen_labels.append(y)
            seen_pixels.append((x[:, 0, 0, 0] * 255).round().long())
        labels, pixels = torch.cat(seen_labels), torch.cat(seen_pixels)
        assert torch.equal(labels, pixels), "each label must travel with its own image"
        expected = 48 if drop_last else 50
        assert len(labels) == expected and len(set(labels.tolist())) == expected, "no image twice in an epoch"


def test_shuffle_changes_order_between_epochs_and_not_without_shuffle():
    images, ids = _ids()
    shuffled = GPULoader(images, ids, batch_size=50, shuffle=True)
    first, second = next(iter(shuffled))[1], next(iter(shuffled))[1]
    assert not torch.equal(first, second)
    fixed = GPULoader(images, ids, batch_size=50)
    assert torch.equal(next(iter(fixed))[1], torch.arange(50))


def test_crop_is_a_shifted_window_of_the_padded_image():
    # a gradient image: every pixel value tells its position, so a crop tells its offset
    size, pad = 8, 2
    grid = (np.arange(size)[:, None] * 10 + np.arange(size)[None, :]).astype(np.uint8) + 1
    images = np.repeat(grid[None, :, :, None], 3, axis=3).repeat(64, axis=0)
    loader = GPULoader(images, np.zeros(64, dtype=int), batch_size=64, crop_padding=pad, seed=3)
    x = (next(iter(loader))[0] * 255).round().long()[:, 0]  # (B, H, W)
    padded = torch.nn.functional.pad(torch.from_numpy(grid).long(), (pad, pad, pad, pad))
    windows = {(dy, dx): padded[dy:dy + size, dx:dx + size] for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)}
    found = []
    for crop in x:
        matches = [offset for offset, window in windows.items() if torch.equal(crop, window)]
        assert len(matches) == 1, "every output must be one window of the zero-padded image"
        found.append(matches[0])
    assert len(set(found)) > 5, "offsets must vary from image to image"


def test_flip_varies_per_image():
    size = 8
    grid = np.tile(np.arange(size, dtype=np.uint8)[None, :], (size, 1))
    images = np.repeat(grid[None, :, :, None], 3, axis=3).repeat(100, axis=0)
    x = next(iter(GPULoader(images, np.zeros(100, dtype=int), batch_size=100, flip=True)))[0][:, 0]
    x = (x * 255).round().long()
    original = torch.from_numpy(grid).long()
    flipped = (x == original.flip(-1)).flatten(1).all(1)
    kept = (x == original).flatten(1).all(1)
    assert bool((flipped | kept).all())
    assert 20 < int(flipped.sum()) < 80, "about half the images should be flipped"


def test_same_seed_same_batches_other_seed_other_batches():
    images, labels = _data(n=100)

    def epochs(seed):
        loader = GPULoader(images, labels, batch_size=32, shuffle=True, crop_padding=2, flip=True, seed=seed)
        return [torch.cat([x for x, _ in loader]) for _ in range(2)]

    a, b, c = epochs(0), epochs(0), epochs(1)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[0], a[1]), "each epoch draws new random numbers"


def test_reflect_padding_and_from_dataset():
    class FakeCifar:
        data, targets = _data(n=30)[0], list(range(10)) * 3

    loader = GPULoader.from_dataset(FakeCifar(), indices=[0, 5, 7], batch_size=2, crop_padding=2,
                                    padding_mode="reflect")
    assert loader.num_images == 3 and len(loader) == 2
    x, y = next(iter(loader))
    assert y.tolist() == [0, 5] and x.shape == (2, 3, 8, 8)

    class FakeMnist:
        data, targets = torch.zeros(4, 6, 6, dtype=torch.uint8), torch.arange(4)

    assert next(iter(GPULoader.from_dataset(FakeMnist(), batch_size=4)))[0].shape == (4, 1, 6, 6)
    with pytest.raises(TypeError, match="data and .targets"):
        GPULoader.from_dataset([1, 2, 3])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(images=np.zeros((4, 8, 8, 3), np.float32)), TypeError, "uint8"),
    (dict(images=np.zeros((4, 8, 8), np.uint8)), ValueError, "4-D"),
    (dict(labels=np.zeros(3, int)), ValueError, "must match"),
    (dict(labels=np.zeros(4, np.float32)), TypeError, "integer class"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=2.5), ValueError, "batch_size"),
    (dict(crop_padding=-1), ValueError, "crop_padding"),
    (dict(padding_mode="edge"), ValueError, "padding_mode"),
    (dict(drop_last=True, batch_size=8), ValueError, "no batch"),
    (dict(mean=[0.5, 0.5, 0.5]), ValueError, "both mean and std"),
    (dict(mean=[0.5, 0.5], std=[0.2, 0.2]), ValueError, "one per channel"),
    (dict(mean=[0.5] * 3, std=[0.2, 0.0, 0.2]), ValueError, "positive"),
    (dict(mean=[125.0] * 3, std=[60.0] * 3), ValueError, "0..1 scale"),
    (dict(images=np.zeros((4, 3, 8, 3), np.uint8)), ValueError, "layout="),
    (dict(layout="HWC"), ValueError, "layout must be"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(resize=0), ValueError, "resize"),
    (dict(images=np.zeros((0, 8, 8, 3), np.uint8), labels=np.zeros(0, int)), ValueError, "empty"),
])
def test_clear_errors(kwargs, error, match):
    args = dict(images=np.zeros((4, 8, 8, 3), np.uint8), labels=np.zeros(4, int), batch_size=2)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        GPULoader(**args)


def test_trains_through_fit():
    from course_utils import fit

    rng = np.random.default_rng(0)
    labels = np.arange(256) % 2
    images = np.where(labels[:, None, None, None] == 1, 200, 50).astype(np.uint8)
    images = np.clip(images + rng.integers(-30, 30, size=(256, 8, 8, 3)), 0, 255).astype(np.uint8)
    train = GPULoader(images, labels, batch_size=32, shuffle=True, crop_padding=1, flip=True)
    val = GPULoader(images[:64], labels[:64], batch_size=64)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    history = fit(model, train, val, torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, progress=False)
    assert history["val_accuracy"][-1] > 0.9


def test_resize_matches_interpolate_of_each_batch():
    images, labels = _data(n=6)
    plain = next(iter(GPULoader(images, labels, batch_size=6)))[0]
    for size in (16, 4):  # upsampling, and downsampling (antialiased)
        x, y = next(iter(GPULoader(images, labels, batch_size=6, resize=size)))
        assert x.shape == (6, 3, size, size) and torch.equal(y, torch.as_tensor(labels))
        expected = torch.nn.functional.interpolate(plain, size=(size, size), mode="bilinear", align_corners=False,
                                                   antialias=size < 8)
        assert torch.allclose(x, expected)
