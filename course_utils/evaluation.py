"""Evaluation: ``evaluate`` (average loss and accuracy), ``predict`` (classes), ``per_class_accuracy``."""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from . import checks


def autocast(device: torch.device, mixed_precision: bool):
    """``(context, dtype)``: bf16 autocast on a GPU that supports it, fp16 otherwise; nothing on the CPU."""
    if not mixed_precision or device.type != "cuda":
        return contextlib.nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype), dtype


def weights_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating-point parameter (float32 for a model without any)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


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
            inputs, targets = checks.unpack_batch(batch, where, weights_dtype(model))
            inputs = inputs.to(device, non_blocking=True, memory_format=memory_format)
            with context:
                outputs = checks.forward(model, inputs, where)
                if tta_flip:
                    outputs = (outputs + model(inputs.flip(-1))) / 2
                num_classes = checks.outputs_fit(outputs, targets, where)
                if checks.is_on_cpu(targets):
                    checks.labels_in_range(targets, num_classes, where)
                else:  # labels on a GPU: checked at the end, without a wait per batch
                    targets = deferred.labels(step, targets, num_classes)
                targets = targets.to(device, dtype=torch.long, non_blocking=True)
                loss_sum += loss_fn(outputs, targets).float() * len(targets)
            correct += (outputs.argmax(dim=1) == targets).sum()
            seen += len(targets)
    finally:
        model.train(was_training)
    if seen == 0:
        raise ValueError("evaluation: the loader yielded no batches. Is the dataset empty?")
    deferred.raise_if_any()
    return {"loss": loss_sum.item() / seen, "accuracy": correct.item() / seen}


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
    checks.positive_int(num_classes, "num_classes", where)
    targets = checks.class_labels(targets, num_classes, "targets", where)
    preds = checks.class_labels(preds, num_classes, "preds", where)
    if len(preds) != len(targets):
        raise ValueError(f"{where}: {len(preds)} predictions but {len(targets)} targets; they must match one to one.")
    support = np.bincount(targets, minlength=num_classes)
    hits = np.bincount(targets[preds == targets], minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, hits / np.maximum(support, 1), np.nan)
