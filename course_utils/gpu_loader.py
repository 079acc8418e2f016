"""A GPU-resident input pipeline: the whole (small) dataset on the device, augmented a batch at a time.

A plain ``DataLoader`` decodes, crops, flips and converts every image on its own, in Python, on the
CPU. For CIFAR-sized images and small networks that is slower than the GPU's training step, so the
GPU waits. ``GPULoader`` moves the uint8 images to the device once (50,000 CIFAR images are 150 MB)
and does the same augmentation for a whole batch with a few tensor operations:

- random crop with padding: the images are padded once; each image of a batch gets its own random
  offset, and one indexing operation (a gather) cuts out all the crops at once;
- horizontal flip: a random per-image mask picks the flipped or the original image (``torch.where``);
- normalization: ``(x / 255 - mean) / std`` on the whole batch.

The random numbers (shuffle order, offsets, flips) come from a seeded ``torch.Generator`` on the
CPU, drawn once per epoch, so the same seed gives the same batches on the CPU and on a GPU.
It works on the CPU too (that is how the course's tests run it), just without the speed-up.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .checks import batch_layout


class GPULoader:
    """Batches of ``(images float32 (B, C, H, W), labels int64 (B,))`` from uint8 images held on ``device``.

    Parameters
    ----------
    images: uint8 array or tensor, ``(N, H, W, C)`` (as in ``CIFAR10.data``) or ``(N, C, H, W)``;
        ``layout`` ("NHWC" or "NCHW") says which when the shape alone cannot.
    labels: ``N`` integer class indices.
    batch_size: images per batch.
    mean, std: per-channel statistics on the 0..1 scale; the output is ``(x / 255 - mean) / std``.
        Without them the output is ``x / 255`` (values in 0..1).
    shuffle: a new random order every epoch (training); keep False for validation and test data.
    crop_padding: random crop with this much padding on each side (as ``RandomCrop(H, padding=p)``);
        0 disables it. ``padding_mode`` is "constant" (zeros, torchvision's default) or "reflect".
    flip: random horizontal flip of each image with probability 0.5.
    drop_last: drop the last incomplete batch (keeps batch statistics steady when training).
    resize: output size in pixels (square), e.g. 224 for ImageNet-pretrained models; each batch is
        resized on the device after crop and flip (bilinear, antialiased when shrinking). None keeps
        the stored size.
    device: where the images live and batches are made; default: the images' own device (CPU for NumPy).
    seed: seeds the generator for shuffling and augmentation (same seed, same epochs).
    """

    def __init__(
        self,
        images,
        labels,
        batch_size: int = 512,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        shuffle: bool = False,
        crop_padding: int = 0,
        flip: bool = False,
        drop_last: bool = False,
        device: torch.device | str | None = None,
        seed: int = 0,
        layout: str | None = None,
        padding_mode: str = "constant",
        resize: int | None = None,
    ):
        images = torch.as_tensor(images)
        labels = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
        if images.dtype != torch.uint8:
            raise TypeError(
                f"GPULoader: images must be uint8 (0..255, as stored in CIFAR10.data), got {images.dtype}. "
                "Pass the raw images, not ToTensor() outputs: the loader scales and normalizes them itself."
            )
        if images.ndim != 4:
            raise ValueError(f"GPULoader: images must be 4-D (N, H, W, C) or (N, C, H, W), "
                             f"got shape {tuple(images.shape)}")
        if labels.ndim != 1 or labels.is_floating_point() or labels.dtype == torch.bool:
            raise TypeError(f"GPULoader: labels must be a 1-D sequence of integer class indices, got "
                            f"dtype {labels.dtype} and shape {tuple(labels.shape)}")
        if len(labels) and int(labels.min()) < 0:
            raise ValueError(f"GPULoader: labels must be class indices 0, 1, 2, ...; found {int(labels.min())} "
                             "(hidden labels such as cu.UNLABELED cannot be trained on)")
        if len(images) != len(labels):
            raise ValueError(f"GPULoader: {len(images)} images but {len(labels)} labels; they must match one to one")
        if len(images) == 0:
            raise ValueError("GPULoader: no images (the dataset or subset is empty)")
        if not _whole(batch_size) or batch_size < 1:
            raise ValueError(f"GPULoader: batch_size must be a positive integer, got {batch_size!r}")
        if not _whole(crop_padding) or crop_padding < 0:
            raise ValueError(f"GPULoader: crop_padding must be a non-negative integer, got {crop_padding!r}")
        batch_size, crop_padding = int(batch_size), int(crop_padding)
        if padding_mode not in ("constant", "reflect"):
            raise ValueError(f"GPULoader: padding_mode must be 'constant' or 'reflect', got {padding_mode!r}")
        if drop_last and len(images) < batch_size:
            raise ValueError(
                f"GPULoader: drop_last=True with {len(images)} images and batch_size={batch_size} would yield "
                "no batch at all; lower batch_size or set drop_last=False"
            )
        if not _whole(seed) or seed < 0:
            raise ValueError(f"GPULoader: seed must be a non-negative integer, got {seed!r}")
        if resize is not None and (not _whole(resize) or resize < 1):
            raise ValueError(f"GPULoader: resize must be a positive integer (pixels) or None, got {resize!r}")
        seed, resize = int(seed), (int(resize) if resize is not None else None)

        images = _to_nchw(images, layout)
        channels, height, width = images.shape[1:]
        if crop_padding and padding_mode == "reflect" and crop_padding >= min(height, width):
            raise ValueError(f"GPULoader: reflect padding {crop_padding} must be smaller than the image "
                             f"({height}x{width})")
        self.device = torch.device(device) if device is not None else images.device
        self.batch_size, self.shuffle, self.flip, self.drop_last = batch_size, shuffle, flip, drop_last
        self.crop_padding, self.image_size, self.resize = crop_padding, (height, width), resize
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0

        images = images.to(self.device).contiguous()
        if crop_padding:  # pad once here, not for every batch
            p = crop_padding
            if padding_mode == "constant":
                images = F.pad(images, (p, p, p, p))
            else:  # reflect padding needs floats; the padded pixels are still whole uint8 values
                images = F.pad(images.float(), (p, p, p, p), mode="reflect").to(torch.uint8)
        self.images = images  # uint8 (N, C, H + 2p, W + 2p) on the device
        self.labels = labels.to(self.device, dtype=torch.long)
        self.mean = self.std = None
        if (mean is None) != (std is None):
            raise ValueError("GPULoader: give both mean and std, or neither")
        if mean is not None:
            mean_t, std_t = (torch.as_tensor(v, dtype=torch.float32).flatten() for v in (mean, std))
            if len(mean_t) != channels or len(std_t) != channels:
                raise ValueError(f"GPULoader: mean and std need {channels} values (one per channel), "
                                 f"got {len(mean_t)} and {len(std_t)}")
            if (std_t <= 0).any():
                raise ValueError(f"GPULoader: std must be positive, got {std_t.tolist()}")
            if mean_t.max() > 1.5 or std_t.max() > 1.5:
                raise ValueError("GPULoader: mean and std are on the 0..1 scale (e.g. 0.49, not 125)")
            self.mean = mean_t.view(1, -1, 1, 1).to(self.device)
            self.std = std_t.view(1, -1, 1, 1).to(self.device)

    @classmethod
    def from_dataset(cls, dataset, indices=None, **kwargs) -> GPULoader:
        """Build from a torchvision dataset holding its images in ``.data`` and labels in ``.targets``
        (CIFAR-10/100, Fashion-MNIST), or a ``Subset`` of one, optionally only the images at ``indices``.

        The dataset's ``transform`` is not used: the loader does its own scaling and augmentation.
        """
        while isinstance(dataset, torch.utils.data.Subset):  # subset[i] is dataset[subset.indices[i]]
            chosen = np.asarray(dataset.indices)
            indices = chosen if indices is None else chosen[np.asarray(indices)]
            dataset = dataset.dataset
        if not hasattr(dataset, "data") or not hasattr(dataset, "targets"):
            raise TypeError(f"GPULoader.from_dataset needs a dataset with .data and .targets (e.g. CIFAR10), "
                            f"got {type(dataset).__name__}")
        images, labels = torch.as_tensor(dataset.data), torch.as_tensor(np.asarray(dataset.targets))
        if images.ndim == 3:  # (N, H, W) grey images such as Fashion-MNIST: add a channel axis
            images = images.unsqueeze(1)
            kwargs.setdefault("layout", "NCHW")
        if indices is not None:
            index = torch.as_tensor(np.asarray(indices), dtype=torch.long)
            images, labels = images[index], labels[index]
        return cls(images, labels, **kwargs)

    @property
    def num_images(self) -> int:
        return len(self.labels)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.drop_last:
            return self.num_images // self.batch_size
        return math.ceil(self.num_images / self.batch_size)

    def __iter__(self):
        n, (height, width), p = self.num_images, self.image_size, self.crop_padding
        # All of this epoch's random numbers, drawn on the CPU in one go, then moved to the device.
        g = self.generator
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        offsets = torch.randint(0, 2 * p + 1, (n, 2), generator=g) if p else None
        flips = torch.rand(n, generator=g) < 0.5 if self.flip else None
        order = order.to(self.device)
        offsets = offsets.to(self.device) if offsets is not None else None
        flips = flips.to(self.device) if flips is not None else None
        self.epoch += 1
        rows_base = torch.arange(height, device=self.device)
        cols_base = torch.arange(width, device=self.device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start:start + self.batch_size]
            if p:
                # each image's crop: rows dy..dy+H-1 and columns dx..dx+W-1 of its padded copy, gathered
                # straight from the padded images (no intermediate copy of the padded batch)
                dy, dx = offsets[start:start + len(index)].unbind(1)
                rows = (dy[:, None] + rows_base)[:, None, :, None]  # (B, 1, H, 1)
                cols = (dx[:, None] + cols_base)[:, None, None, :]  # (B, 1, 1, W)
                channel = torch.arange(self.images.shape[1], device=self.device)[None, :, None, None]
                batch = self.images[index[:, None, None, None], channel, rows, cols]  # uint8 (B, C, H, W)
            else:
                batch = self.images[index]  # uint8 (B, C, H, W)
            if flips is not None:
                mask = flips[start:start + len(index)][:, None, None, None]
                batch = torch.where(mask, batch.flip(-1), batch)
            batch = batch.float().div_(255)
            if self.resize is not None and (self.resize, self.resize) != (height, width):
                batch = F.interpolate(batch, size=(self.resize, self.resize), mode="bilinear", align_corners=False,
                                      antialias=self.resize < min(height, width))
            if self.mean is not None:
                batch = batch.sub_(self.mean).div_(self.std)
            yield batch, self.labels[index]

    def __repr__(self) -> str:
        return (f"GPULoader({self.num_images} images of {tuple(self.images.shape[1:2]) + self.image_size}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, crop_padding={self.crop_padding}, "
                f"flip={self.flip}, drop_last={self.drop_last}, resize={self.resize}, device={self.device})")


def _whole(value) -> bool:
    """A Python or NumPy integer (not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _to_nchw(images: torch.Tensor, layout: str | None) -> torch.Tensor:
    found = batch_layout(images.shape, layout, "GPULoader")  # checks that the channel axis has 1, 3 or 4 entries
    return images.permute(0, 3, 1, 2) if found == "NHWC" else images
