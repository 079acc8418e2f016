"""Figures: image grids with class names, learning curves, per-class accuracy, confusion matrix.

Every function returns the matplotlib ``Figure`` so a notebook can save it (``fig.savefig``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def unnormalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Undo ``transforms.Normalize(mean, std)``: ``x * std + mean`` per channel, clipped to 0..1."""
    images = torch.as_tensor(images, dtype=torch.float32)
    shape = (-1, 1, 1)
    mean = torch.as_tensor(mean, dtype=images.dtype, device=images.device).reshape(shape)
    std = torch.as_tensor(std, dtype=images.dtype, device=images.device).reshape(shape)
    return (images * std + mean).clamp(0, 1)


def _to_hwc(image, mean=None, std=None) -> np.ndarray:
    """One image (tensor C,H,W float or uint8; array H,W[,C] uint8) as an H,W[,C] float array in 0..1."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.dtype == torch.uint8:
            image = image.float() / 255
        elif mean is not None and std is not None:
            image = unnormalize(image, mean, std)
        if image.ndim == 3:
            image = image.permute(1, 2, 0)
        image = image.numpy()
    else:
        image = np.asarray(image)
        if image.dtype == np.uint8:
            image = image.astype(np.float32) / 255
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.min() < -0.01 or image.max() > 1.01:
        raise ValueError(
            "show_images got values outside 0..1: these look like normalized images. "
            "Pass the mean and std used by Normalize so they can be un-normalized for display."
        )
    return np.clip(image, 0, 1)


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
    uint8 array (N, H, W[, C]) such as ``dataset.data[:16]``.
    """
    n = len(images)
    if n == 0:
        raise ValueError("show_images got no images.")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    row_height = size + (0.35 if labels is not None else 0) + (0.25 if preds is not None else 0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, row_height * nrows + (0.4 if title else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        image = _to_hwc(images[i], mean, std)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        if labels is not None:
            label = int(labels[i])
            name = class_names[label] if class_names is not None else str(label)
            if preds is None:
                ax.set_title(name, fontsize=9)
            else:
                pred = int(preds[i])
                guess = class_names[pred] if class_names is not None else str(pred)
                ax.set_title(f"{guess}\n(true: {name})", fontsize=8, color="green" if pred == label else "red")
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
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for (name, h), color in zip(runs.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
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


def plot_per_class_accuracy(accuracy, class_names: Sequence[str], title: str = "Accuracy per class"):
    """Horizontal bars of each class's accuracy, labelled with their values, and the mean as a dashed line."""
    accuracy = np.asarray(accuracy, dtype=float)
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(class_names) + 1.2))
    order = np.argsort(accuracy)
    bars = ax.barh(np.arange(len(order)), accuracy[order], color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:.0%}" for v in accuracy[order]], padding=3, fontsize=8,  # a 0% bar shows too
                 bbox=dict(facecolor="white", edgecolor="none", pad=0.5))  # readable over the mean line
    ax.set_yticks(np.arange(len(order)), [class_names[i] for i in order])
    ax.axvline(np.nanmean(accuracy), color="black", linestyle="--", label=f"mean {np.nanmean(accuracy):.1%}")
    ax.set(xlim=(0, 1.1), xlabel="accuracy (fraction of the class's test images)", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_confusion_matrix(targets, preds, class_names: Sequence[str], normalize: bool = True,
                          title: str = "Confusion matrix"):
    """Confusion matrix (rows: true class, columns: predicted), via scikit-learn's display."""
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(5, 0.5 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay.from_predictions(
        np.asarray(targets), np.asarray(preds), labels=np.arange(len(class_names)), display_labels=class_names,
        normalize="true" if normalize else None, values_format=".2f" if normalize else "d",
        include_values=len(class_names) <= 20, cmap="Blues", colorbar=False, ax=ax, xticks_rotation=45,
    )
    ax.set_title(title + (" (each row sums to 1)" if normalize else ""))
    fig.tight_layout()
    return fig
