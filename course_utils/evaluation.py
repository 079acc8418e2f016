"""Evaluation: ``evaluate`` (average loss and accuracy), ``predict`` (classes), ``per_class_accuracy``."""
from __future__ import annotations

import contextlib
import random

import numpy as np
import torch
from torch import nn

from . import checks
from .gpu_loader import GPULoader


def autocast(device: torch.device, mixed_precision: bool):
    """``(context, dtype)``: bf16 autocast on a GPU that supports it, fp16 otherwise; nothing on the CPU."""
    if not mixed_precision or device.type != "cuda":
        return contextlib.nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype), dtype


def weights_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of the model's first floating-point parameter (None for a model without any)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), None)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader,
    device: torch.device | str | None = None,
    *,
    loss_fn=None,
    mixed_precision: bool = False,
    channels_last: bool = False,
    tta_flip: bool = False,
) -> dict:
    """Average loss and accuracy of ``model`` on ``loader``: ``{"loss", "accuracy"}`` (eval mode, no gradients).

    ``device`` defaults to the model's own. ``tta_flip=True`` averages the logits of each image and
    its horizontal mirror (test-time augmentation).
    """
    where = "evaluation"
    device = checks.model_device(model, device, where)
    checks.loader(loader, "loader", where)
    checks.loss_function(loss_fn, where)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    context, _ = autocast(device, mixed_precision)
    memory_format = torch.channels_last if channels_last else torch.preserve_format
    deferred = checks.DeferredChecks(device, where, epoch=None)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    was_training = model.training
    model.eval()
    try:
        for step, batch in enumerate(checks.batches(loader, where), start=1):
            outputs, targets, loss = _batch_loss(model, batch, where, device, context, memory_format, loss_fn,
                                                 tta_flip, deferred, step)
            loss_sum += loss * len(targets)
            correct += (outputs.argmax(dim=1) == targets).sum()
            seen += len(targets)
    finally:
        model.train(was_training)
    if seen == 0:
        raise ValueError("evaluation: the loader yielded no batches. Is the dataset empty?")
    deferred.raise_if_any()
    return {"loss": loss_sum.item() / seen, "accuracy": correct.item() / seen}


def _batch_loss(model, batch, where, device, context, memory_format, loss_fn, tta_flip, deferred=None, step=1):
    """One batch of ``evaluate``: ``(outputs, targets, loss)``, with every check on the way."""
    inputs, targets = checks.unpack_batch(batch, where, weights_dtype(model))
    inputs = inputs.to(device, non_blocking=True, memory_format=memory_format)
    with context:
        outputs = checks.forward(model, inputs, where)
        num_classes = checks.outputs_fit(outputs, targets, where)
        if tta_flip:
            outputs = (outputs + model(inputs.flip(-1))) / 2
        if deferred is None or checks.is_on_cpu(targets):
            checks.labels_in_range(targets, num_classes, where)
        else:  # labels on a GPU: checked at the end, without a wait per batch
            targets = deferred.labels(step, targets, num_classes)
        targets = targets.to(device, dtype=torch.long, non_blocking=True)
        loss = loss_fn(outputs, targets).float()
    return outputs, targets, loss


@torch.no_grad()
def check_first_batch(model: nn.Module, loader, name: str, device: torch.device, *, loss_fn=None,
                      mixed_precision: bool = False, channels_last: bool = False, tta_flip: bool = False) -> None:
    """Run ``evaluate``'s checks on the first batch of ``loader`` (one forward pass in eval mode).

    ``fit`` calls it on ``val_loader`` before the first epoch, so that a validation set that is empty,
    or whose batches do not fit the model, is reported before training rather than after an epoch.
    The loader's and the global random generators are put back as they were, so the run that
    follows draws the same random numbers as without this check; the model is not changed. Only
    loaders whose state can be put back are checked: a DataLoader, a GPULoader, a list or tuple of
    batches (another iterable might count its passes, or be a stream that a peek would consume).
    """
    if not isinstance(loader, (torch.utils.data.DataLoader, GPULoader, list, tuple)):
        return
    where = f"fit ({name})"
    with random_state_kept(loader):
        first = checks.batches(loader, where)
        try:
            batch = next(first, None)
        finally:
            first.close()
    if batch is None:
        raise ValueError(f"{where}: the loader yielded no batches (an empty dataset, or drop_last=True with fewer "
                         "samples than one batch). Check the validation split.")
    context, _ = autocast(device, mixed_precision)
    memory_format = torch.channels_last if channels_last else torch.preserve_format
    was_training = model.training
    model.eval()
    try:
        _batch_loss(model, batch, where, device, context, memory_format, loss_fn or nn.CrossEntropyLoss(), tta_flip)
    finally:
        model.train(was_training)


@contextlib.contextmanager
def random_state_kept(loader):
    """Whatever is drawn from ``loader`` inside, it and the global generators (torch's on the CPU, NumPy's,
    Python's) draw the same numbers afterwards as if nothing had been drawn."""
    generator = getattr(loader, "generator", None)  # a DataLoader's or a GPULoader's own generator
    saved = generator.get_state() if isinstance(generator, torch.Generator) else None
    epoch = loader.epoch if isinstance(loader, GPULoader) else None
    # A DataLoader with persistent workers keeps its first iterator (and the worker seeds drawn for it):
    # dropped again, so that the first real epoch starts its workers as it would have.
    fresh = isinstance(loader, torch.utils.data.DataLoader) and loader._iterator is None
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        if saved is not None:
            generator.set_state(saved)
        if epoch is not None:
            loader.epoch = epoch
        if fresh:
            loader._iterator = None
        np.random.set_state(numpy_state)
        random.setstate(python_state)


@torch.no_grad()
def predict(model: nn.Module, loader, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true class indices for every sample of ``loader`` (on the CPU)."""
    where = "prediction"
    device = checks.model_device(model, device, where)
    checks.loader(loader, "loader", where)
    preds, trues = [], []
    was_training = model.training
    model.eval()
    try:
        for batch in checks.batches(loader, where):
            inputs, targets = checks.unpack_batch(batch, where, weights_dtype(model))
            outputs = checks.forward(model, inputs.to(device), where)
            checks.outputs_fit(outputs, targets, where)
            preds.append(outputs.argmax(dim=1).cpu())
            trues.append(targets.cpu())
    finally:
        model.train(was_training)
    if not preds:
        raise ValueError("prediction: the loader yielded no batches.")
    return torch.cat(preds), torch.cat(trues)


def per_class_accuracy(preds, targets, num_classes: int) -> np.ndarray:
    """Accuracy of each class (the fraction of its samples predicted correctly); NaN for a class without samples."""
    where = "per_class_accuracy"
    num_classes = checks.positive_int(num_classes, "num_classes", where)
    targets = checks.class_labels(targets, num_classes, "targets", where)
    preds = checks.class_labels(preds, num_classes, "preds", where)
    if len(preds) != len(targets):
        raise ValueError(f"{where}: {len(preds)} predictions but {len(targets)} targets; they must match one to one.")
    support = np.bincount(targets, minlength=num_classes)
    hits = np.bincount(targets[preds == targets], minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, hits / np.maximum(support, 1), np.nan)
