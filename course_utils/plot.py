"""Figures: image grids with class names, learning curves, per-class accuracy, confusion matrix.

Every function returns the matplotlib ``Figure`` so a notebook can save it (``fig.savefig``).
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .checks import CHANNEL_COUNTS, batch_layout, class_labels, normalization, positive_int


def unnormalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Undo ``transforms.Normalize(mean, std)``: ``x * std + mean`` per channel, clipped to 0..1.

    ``images``: one image (C, H, W) or a batch (N, C, H, W), channels first as ``Normalize`` wants them.
    """
    return _unnormalize(images, mean, std, "unnormalize")


def _unnormalize(images, mean, std, where: str) -> torch.Tensor:
    images = torch.as_tensor(images, dtype=torch.float32)
    channels = images.shape[-3] if images.ndim >= 3 else 1
    mean, std = normalization(mean, std, channels, f"{where} (images channels first: (N, C, H, W))"
                              if images.ndim == 4 else where)
    shape = (-1, 1, 1)
    mean = mean.to(images.device).reshape(shape)
    std = std.to(images.device).reshape(shape)
    return (images * std + mean).clamp(0, 1)


def _to_hwc(image, layout: str, mean=None, std=None) -> np.ndarray:
    """One image of a batch with ``layout`` (NCHW, NHWC or NHW) as an H,W[,C] float array in 0..1."""
    if mean is not None and not isinstance(image, torch.Tensor) and np.asarray(image).dtype.kind == "f":
        image = torch.as_tensor(np.asarray(image))  # normalized NumPy images: un-normalized as tensors are
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.dtype == torch.uint8:
            image = image.float() / 255
        elif mean is not None and std is not None:
            if layout == "NHWC":
                image = image.permute(2, 0, 1)
            image = _unnormalize(image if image.ndim == 3 else image[None], mean, std, "show_images")
            layout = "NCHW"
        image = image.numpy()
    else:
        image = np.asarray(image)
        if image.dtype == np.uint8:
            image = image.astype(np.float32) / 255
    if layout == "NCHW":
        image = image.transpose(1, 2, 0)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.min() < -0.01 or image.max() > 1.01:
        raise ValueError(
            "show_images got values outside 0..1: these look like normalized images. "
            "Pass the mean and std used by Normalize so they can be un-normalized for display."
        )
    return np.clip(image, 0, 1)


def _layout(images) -> str:
    """NCHW, NHWC or NHW; a 4-D shape that fits both is read as NCHW for tensors, NHWC for arrays."""
    shape = tuple(images.shape) if hasattr(images, "shape") else (len(images), *np.shape(images[0]))
    if len(shape) == 4 and shape[1] in CHANNEL_COUNTS and shape[3] in CHANNEL_COUNTS:
        return "NCHW" if isinstance(images, torch.Tensor) else "NHWC"
    if len(shape) == 2:
        raise ValueError(f"show_images got one grey image of shape {shape}; pass a batch: images[None].")
    return batch_layout(shape, where="show_images")


def _names(values, n, name, class_names):
    """``values`` (labels or predictions) as n integers, each with a class name if names are given."""
    if isinstance(values, Iterator):
        values = list(values)
    values = np.asarray(values.cpu() if isinstance(values, torch.Tensor) else values)
    if values.shape != (n,):
        raise ValueError(f"show_images: {n} images but {name} has shape {values.shape}; give one per image.")
    class_labels(values, None, name, "show_images")
    if class_names is not None:
        class_labels(values, len(class_names), name, "show_images (one class name per class)")
    return [int(v) for v in values]


def show_images(
    images,
    labels=None,
    class_names: Sequence[str] | None = None,
    mean=None,
    std=None,
    preds=None,
    ncols: int = 8,
    title: str | None = None,
    size: float = 1.5,
):
    """A grid of images titled with their class names (and predictions, green when right, red when wrong).

    ``images``: a batch tensor (N, C, H, W) — normalized ones need ``mean`` and ``std`` — or a
    uint8 array (N, H, W[, C]) such as ``dataset.data[:16]``. One image needs a batch of one:
    ``image[None]``.
    """
    if isinstance(images, torch.utils.data.Dataset):
        raise TypeError(f"show_images takes a batch of images, got a {type(images).__name__} (a Dataset): take a "
                        "batch from a DataLoader, images, labels = next(iter(loader)), and pass those.")
    n = len(images)
    if n == 0:
        raise ValueError("show_images got no images.")
    ncols = positive_int(ncols, "ncols (images per row)", "show_images")
    if (mean is None) != (std is None):
        raise ValueError("show_images: pass both mean and std (the values given to Normalize), or neither.")
    layout = _layout(images)
    labels = _names(labels, n, "labels", class_names) if labels is not None else None
    preds = _names(preds, n, "preds", class_names) if preds is not None else None
    pictures = [_to_hwc(images[i], layout, mean, std) for i in range(n)]  # every check before the figure exists
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    row_height = size + (0.35 if labels is not None else 0) + (0.25 if preds is not None else 0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, row_height * nrows + (0.4 if title else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        image = pictures[i]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        if labels is not None:
            name = class_names[labels[i]] if class_names is not None else str(labels[i])
            if preds is None:
                ax.set_title(name, fontsize=9)
            else:
                guess = class_names[preds[i]] if class_names is not None else str(preds[i])
                ax.set_title(f"{guess}\n(true: {name})", fontsize=8, color="green" if preds[i] == labels[i] else "red")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(history, title: str | None = None, histories: dict | None = None):
    """Loss and accuracy per epoch, train vs validation (two panels).

    Pass one ``history`` from ``fit``, or several as ``histories={"ReLU": h1, "tanh": h2}``
    to compare runs on the same axes.
    """
    runs = histories if histories is not None else {"": history}
    if not isinstance(runs, Mapping):
        raise TypeError(f"plot_history: histories must be a dict {{name: history}}, e.g. {{'ReLU': h1, 'tanh': h2}}; "
                        f"got a {type(runs).__name__}.")
    keys = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy")
    for name, h in runs.items():
        try:  # a History, a dict, a pandas DataFrame: anything that has these columns
            missing = [k for k in keys if k not in h]
        except TypeError:  # None, a number: not a container at all
            missing = list(keys)
        if missing:
            which = f"the history {name!r}" if name else f"the history (a {type(h).__name__})"
            raise ValueError(f"plot_history: {which} lacks {missing}. Pass the History that cu.fit returns, or a dict "
                             f"of per-epoch lists with the keys {list(keys)}; to compare runs, pass "
                             "histories={'name': history, ...}.")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, h) in enumerate(runs.items()):
        color = colors[i % len(colors)]
        prefix = f"{name} " if name else ""
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            ax.plot(h["epoch"], h[f"train_{metric}"], "--o", color=color, label=f"{prefix}train", markersize=3)
            ax.plot(h["epoch"], h[f"val_{metric}"], "-o", color=color, label=f"{prefix}validation", markersize=3)
    ax_loss.set(title="Loss", xlabel="epoch", ylabel="cross-entropy loss")
    ax_acc.set(title="Accuracy", xlabel="epoch", ylabel="accuracy")
    epochs = sorted({int(e) for h in runs.values() for e in h["epoch"]})
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if epochs and len(epochs) <= 20:  # whole epochs only (a one-epoch run otherwise gets ticks like 0.98)
            ax.set_xticks(epochs)
            ax.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
        else:
            ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


ZERO_MARK = 0.012  # width of the red mark drawn for a class at 0% (its label says 0%)


def plot_per_class_accuracy(accuracy, class_names: Sequence[str], title: str = "Accuracy per class"):
    """Horizontal bars of each class's accuracy, labelled with their values, and the mean as a dashed line.

    A class at 0% gets a red tick on the axis and the label "0%", so it is not mistaken for a missing
    bar; a class without test samples (NaN) is labelled "no samples".
    """
    accuracy = np.asarray(accuracy, dtype=float)
    if accuracy.shape != (len(class_names),):
        raise ValueError(f"plot_per_class_accuracy: {accuracy.size} accuracies but {len(class_names)} class names; "
                         "give one of each per class.")
    outside = accuracy[(accuracy < 0) | (accuracy > 1)]
    if outside.size:
        raise ValueError(f"plot_per_class_accuracy: accuracies are fractions between 0 and 1, got {outside[0]:g}; "
                         "divide percentages by 100.")
    order = np.argsort(np.nan_to_num(accuracy, nan=-1))
    rows = np.arange(len(order))
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(class_names) + 1.2))
    ax.barh(rows, np.nan_to_num(accuracy[order]), color="tab:blue")
    for row, value in zip(rows, accuracy[order], strict=True):
        if value == 0:  # a bar of length 0 is invisible: mark it with a thin red bar
            ax.barh(row, ZERO_MARK, color="tab:red")
        label = "no samples" if np.isnan(value) else f"{value:.0%}" if value in (0, 1) else f"{value:.1%}"
        ax.text(max(np.nan_to_num(value), ZERO_MARK) + 0.01, row, label, va="center", fontsize=8,
                color="tab:red" if value == 0 else "black", bbox=dict(facecolor="white", edgecolor="none", pad=0.5))
    ax.set_yticks(rows, [class_names[i] for i in order])
    ax.axvline(np.nanmean(accuracy), color="black", linestyle="--", label=f"mean {np.nanmean(accuracy):.1%}")
    ax.set(xlim=(0, 1.12), xticks=np.linspace(0, 1, 6), xlabel="accuracy (fraction of the class's test images)",
           title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_confusion_matrix(targets, preds, class_names: Sequence[str], normalize: bool = True,
                          title: str = "Confusion matrix"):
    """Confusion matrix (rows: true class, columns: predicted), via scikit-learn's display."""
    from sklearn.metrics import ConfusionMatrixDisplay

    where, num_classes = "plot_confusion_matrix (one class name per class)", len(class_names)
    targets = class_labels(targets, num_classes, "targets", where)
    preds = class_labels(preds, num_classes, "preds", where)
    if len(targets) != len(preds):
        raise ValueError(f"plot_confusion_matrix: {len(targets)} targets but {len(preds)} predictions; "
                         "they must match one to one.")
    size = max(5, 0.5 * num_classes + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay.from_predictions(
        targets, preds, labels=np.arange(num_classes), display_labels=class_names,
        normalize="true" if normalize else None, values_format=".2f" if normalize else "d",
        include_values=num_classes <= 20, cmap="Blues", colorbar=False, ax=ax, xticks_rotation=45,
    )
    ax.set_title(title + (" (each row sums to 1)" if normalize else ""))
    fig.tight_layout()
    return fig
