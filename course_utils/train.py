"""Training and evaluation: ``train_one_epoch``, ``evaluate``, ``fit``, checkpoints.

These are the loops the notebooks first write by hand, plus the checks that turn common
mistakes into clear errors. Read ``fit`` top to bottom: it is just the loop from notebook 03.
"""
from __future__ import annotations

import contextlib
import math
import os
import pickle
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite: training stopped (lower the learning rate, check the data)."""


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or does not fit the model."""


class History(dict):
    """Per-epoch metrics: a dict of equal-length lists (``pandas.DataFrame(history)`` makes a table).

    ``stop_reason`` is ``"completed"``, ``"early_stopping"`` or ``"interrupted"``;
    ``best_epoch`` is the epoch (1-based) whose weights are in the best checkpoint, if any.
    """

    KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")

    def __init__(self):
        super().__init__({key: [] for key in self.KEYS})
        self.stop_reason = "completed"
        self.best_epoch = None

    def append(self, **row):
        for key in self.KEYS:
            self[key].append(row.get(key, float("nan")))


# -- input checks --------------------------------------------------------------------------------

def _unpack(batch, where):
    """Check a batch is ``(inputs, targets)`` with float images and integer class labels."""
    if not isinstance(batch, (list, tuple)) or len(batch) != 2:
        raise TypeError(
            f"{where}: each batch must be a pair (inputs, targets), got {type(batch).__name__}"
            f"{' of length ' + str(len(batch)) if isinstance(batch, (list, tuple)) else ''}."
        )
    inputs, targets = batch
    if not torch.is_tensor(inputs) or not torch.is_tensor(targets):
        raise TypeError(
            f"{where}: inputs and targets must be tensors, got {type(inputs).__name__} and "
            f"{type(targets).__name__}. Add transforms.ToTensor() (or v2.ToImage + v2.ToDtype) to the dataset."
        )
    if not inputs.is_floating_point():
        raise TypeError(
            f"{where}: inputs have dtype {inputs.dtype}, but a model needs floats. Convert images with "
            "transforms.ToTensor() (scales 0..255 to 0..1) or `x.float() / 255`."
        )
    if targets.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"{where}: targets must be integer class indices, got dtype {targets.dtype}.")
    if targets.ndim != 1 or inputs.ndim < 2 or len(inputs) != len(targets):
        raise ValueError(
            f"{where}: expected inputs (batch, ...) and targets (batch,), got shapes "
            f"{tuple(inputs.shape)} and {tuple(targets.shape)}."
        )
    return inputs, targets


def _check_targets(outputs, targets, where):
    """Catch labels the model cannot predict before CUDA turns them into a device-side assert."""
    if outputs.ndim != 2 or outputs.shape[0] != targets.shape[0]:
        raise ValueError(
            f"{where}: the model returned shape {tuple(outputs.shape)}; expected (batch, num_classes) = "
            f"({targets.shape[0]}, C). Did you forget to flatten before the last Linear layer?"
        )
    low, high = int(targets.min()), int(targets.max())
    if low < 0 or high >= outputs.shape[1]:
        raise ValueError(
            f"{where}: labels range from {low} to {high}, but the model has {outputs.shape[1]} outputs "
            f"(classes 0..{outputs.shape[1] - 1}). Make the last layer as wide as the number of classes."
        )


def _batches(loader, where):
    """Iterate a loader, explaining the common collate error when a transform is missing."""
    try:
        yield from loader
    except TypeError as error:
        if "default_collate" in str(error) and "PIL" in str(error):
            raise TypeError(
                f"{where}: the dataset returns PIL images, which cannot be batched. "
                "Add transforms.ToTensor() to its transform."
            ) from error
        raise


# -- mixed precision ----------------------------------------------------------------------------

def _autocast(device: torch.device, mixed_precision: bool):
    """bf16 autocast on a GPU that supports it, fp16 otherwise; nothing on the CPU."""
    if not mixed_precision or device.type != "cuda":
        return contextlib.nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype), dtype


# -- one epoch ------------------------------------------------------------------------------------

def train_one_epoch(
    model: nn.Module,
    loader,
    optimizer: torch.optim.Optimizer,
    device: torch.device | str = "cpu",
    loss_fn=None,
    scheduler=None,
    mixed_precision: bool = False,
    channels_last: bool = False,
    epoch: int = 1,
    check_every: int = 50,
    progress: bool = True,
) -> dict:
    """Train for one pass over ``loader``; return ``{"loss", "accuracy", "lr"}`` averaged over samples.

    ``scheduler`` (if given) is stepped after every batch, as one-cycle and warm-up schedules
    expect. The loss is checked for NaN/inf every ``check_every`` steps (and at the end) without
    a GPU synchronisation on the other steps; a bad loss raises ``NonFiniteLossError`` naming the
    epoch and step.
    """
    device = torch.device(device)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    autocast, amp_dtype = _autocast(device, mixed_precision)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    memory_format = torch.channels_last if channels_last else torch.preserve_format
    model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    bad_step = torch.full((), -1, device=device, dtype=torch.long)
    seen = 0
    lr = optimizer.param_groups[0]["lr"]
    bar = tqdm(_batches(loader, "training"), desc=f"epoch {epoch}", leave=False, disable=not progress,
               total=_len_or_none(loader))
    step = 0
    for step, batch in enumerate(bar, start=1):
        inputs, targets = _unpack(batch, "training")
        inputs = inputs.to(device, non_blocking=True, memory_format=memory_format)
        on_cpu = targets.device.type == "cpu"
        with autocast:
            outputs = model(inputs)
            if on_cpu or step == 1:  # CPU labels: free to check; device labels: once per epoch
                _check_targets(outputs, targets, "training")
            targets = targets.to(device, non_blocking=True)
            loss = loss_fn(outputs, targets)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        detached = loss.detach().float()
        bad_step = torch.where((bad_step < 0) & ~torch.isfinite(detached), step, bad_step)
        loss_sum += detached * len(targets)
        correct += (outputs.detach().argmax(dim=1) == targets).sum()
        seen += len(targets)
        if step % check_every == 0:
            _raise_if_bad(bad_step, epoch)
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}")
    if seen == 0:
        raise ValueError(
            "training: the loader yielded no batches. Is the dataset empty, or is drop_last=True "
            "with fewer samples than one batch?"
        )
    _raise_if_bad(bad_step, epoch)
    return {"loss": loss_sum.item() / seen, "accuracy": correct.item() / seen, "lr": lr}


def _raise_if_bad(bad_step, epoch):
    step = int(bad_step)
    if step >= 0:
        raise NonFiniteLossError(
            f"The loss became NaN or infinite at epoch {epoch}, step {step}. Training stopped. "
            "Try a smaller learning rate, check the inputs for NaNs, or use gradient clipping."
        )


def _len_or_none(loader):
    try:
        return len(loader)
    except TypeError:
        return None


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader,
    device: torch.device | str = "cpu",
    loss_fn=None,
    mixed_precision: bool = False,
    channels_last: bool = False,
    tta_flip: bool = False,
) -> dict:
    """Average loss and accuracy of ``model`` on ``loader`` (in eval mode, no gradients).

    ``tta_flip=True`` averages the logits of each image and its horizontal mirror
    (test-time augmentation).
    """
    device = torch.device(device)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    autocast, _ = _autocast(device, mixed_precision)
    memory_format = torch.channels_last if channels_last else torch.preserve_format
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    try:
        for step, batch in enumerate(_batches(loader, "evaluation"), start=1):
            inputs, targets = _unpack(batch, "evaluation")
            inputs = inputs.to(device, non_blocking=True, memory_format=memory_format)
            with autocast:
                outputs = model(inputs)
                if tta_flip:
                    outputs = (outputs + model(inputs.flip(-1))) / 2
                if targets.device.type == "cpu" or step == 1:
                    _check_targets(outputs, targets, "evaluation")
                targets = targets.to(device, non_blocking=True)
                loss_sum += loss_fn(outputs, targets).float() * len(targets)
            correct += (outputs.argmax(dim=1) == targets).sum()
            seen += len(targets)
    finally:
        model.train(was_training)
    if seen == 0:
        raise ValueError("evaluation: the loader yielded no batches. Is the dataset empty?")
    return {"loss": loss_sum.item() / seen, "accuracy": correct.item() / seen}


@torch.no_grad()
def predict(model: nn.Module, loader, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true class indices for every sample of ``loader`` (on the CPU)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    preds, trues = [], []
    try:
        for batch in _batches(loader, "prediction"):
            inputs, targets = _unpack(batch, "prediction")
            preds.append(model(inputs.to(device)).argmax(dim=1).cpu())
            trues.append(targets.cpu())
    finally:
        model.train(was_training)
    if not preds:
        raise ValueError("prediction: the loader yielded no batches.")
    return torch.cat(preds), torch.cat(trues)


def per_class_accuracy(preds, targets, num_classes: int) -> np.ndarray:
    """Accuracy of each class (the fraction of its samples predicted correctly), via scikit-learn."""
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(np.asarray(targets), np.asarray(preds), labels=np.arange(num_classes))
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, matrix.diagonal() / np.maximum(support, 1), np.nan)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two optimizer parameter groups: weights with ``weight_decay``, and biases and normalization
    parameters (BatchNorm/LayerNorm scales and shifts) without it.

    Weight decay pulls weights towards 0 to keep the network simple; on a BatchNorm scale or a
    bias it only fights the normalization, so the usual recipe exempts them. Parameters with fewer
    than 2 dimensions are exactly those (a conv or linear weight has 2 or more). Frozen parameters
    (``requires_grad=False``) are left out. Use as
    ``torch.optim.SGD(parameter_groups(model, 5e-4), lr=0.1, momentum=0.9, nesterov=True)``.
    """
    if not isinstance(weight_decay, (int, float)) or isinstance(weight_decay, bool) or weight_decay < 0:
        raise ValueError(f"weight_decay must be a non-negative number, got {weight_decay!r}")
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    return [{"params": decay, "weight_decay": float(weight_decay)}, {"params": no_decay, "weight_decay": 0.0}]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# -- checkpoints ------------------------------------------------------------------------------------

def save_checkpoint(path, model: nn.Module, **extra) -> Path:
    """Save ``{"model": state_dict, **extra}`` atomically: a crash mid-write never leaves a broken file.

    The file is written next to its destination and renamed over it in one step. ``extra`` may
    hold tensors, numbers, strings, lists and dicts (all loadable with ``weights_only=True``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save({"model": model.state_dict(), **extra}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path, model: nn.Module | None = None, map_location="cpu") -> dict:
    """Load a checkpoint saved by ``save_checkpoint`` (``weights_only=True``: no code is executed).

    With ``model`` given, its weights are replaced by the checkpoint's. Raises ``CheckpointError``
    with a clear message for a missing, truncated, corrupt or mismatched file; the file itself is
    never modified.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}. Train first (fit(..., checkpoint_path=...)) or fix the path.")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError, OSError) as error:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or corrupt: {type(error).__name__}). "
            "It was left as it is; delete it and train again, or load another file."
        ) from error
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise CheckpointError(f"{path} is not a course checkpoint: expected a dict with a 'model' state_dict.")
    if model is not None:
        try:
            model.load_state_dict(checkpoint["model"])
        except RuntimeError as error:
            raise CheckpointError(
                f"{path} does not fit this model (different architecture or number of classes):\n{error}"
            ) from error
    return checkpoint


# -- the whole training run ------------------------------------------------------------------------

def fit(
    model: nn.Module,
    train_loader,
    val_loader,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    device: torch.device | str = "cpu",
    loss_fn=None,
    scheduler=None,
    scheduler_per_batch: bool = False,
    patience: int | None = None,
    monitor: str = "val_loss",
    checkpoint_path=None,
    restore_best: bool = True,
    mixed_precision: bool = False,
    channels_last: bool = False,
    tta_flip: bool = False,
    progress: bool = True,
) -> History:
    """Train for ``epochs`` epochs, evaluating on ``val_loader`` after each; return a ``History``.

    - ``scheduler`` is stepped once per epoch, or once per batch with ``scheduler_per_batch=True``.
    - ``patience``: stop after that many epochs without improvement of ``monitor``
      (``"val_loss"``, lower is better, or ``"val_accuracy"``, higher is better).
    - ``checkpoint_path``: the best epoch's weights are saved there (atomically); with
      ``restore_best`` the model ends with those weights.
    - Ctrl-C (KeyboardInterrupt) stops cleanly: the history so far is returned and the best
      checkpoint stays intact.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if monitor not in ("val_loss", "val_accuracy"):
        raise ValueError(f"monitor must be 'val_loss' or 'val_accuracy', got {monitor!r}")
    device = torch.device(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    sign = 1.0 if monitor == "val_loss" else -1.0
    best = math.inf
    best_state = None
    since_best = 0
    history = History()
    common = dict(device=device, loss_fn=loss_fn, mixed_precision=mixed_precision, channels_last=channels_last)
    epoch_bar = tqdm(range(1, epochs + 1), desc="fit", disable=not progress)
    try:
        for epoch in epoch_bar:
            start = time.perf_counter()
            train = train_one_epoch(model, train_loader, optimizer, epoch=epoch, progress=progress,
                                    scheduler=scheduler if scheduler_per_batch else None, **common)
            val = evaluate(model, val_loader, tta_flip=tta_flip, **common)
            if scheduler is not None and not scheduler_per_batch:
                scheduler.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            history.append(epoch=epoch, train_loss=train["loss"], train_accuracy=train["accuracy"],
                           val_loss=val["loss"], val_accuracy=val["accuracy"], lr=train["lr"],
                           seconds=time.perf_counter() - start)
            epoch_bar.set_postfix(val_acc=f"{val['accuracy']:.3f}", val_loss=f"{val['loss']:.3f}")
            score = sign * val[monitor.removeprefix("val_")]
            if score < best:
                best, since_best, history.best_epoch = score, 0, epoch
                if checkpoint_path is not None:
                    save_checkpoint(checkpoint_path, model, epoch=epoch, **{monitor: val[monitor.removeprefix("val_")]})
                elif restore_best and patience is not None:
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                since_best += 1
                if patience is not None and since_best >= patience:
                    history.stop_reason = "early_stopping"
                    print(f"Early stopping after epoch {epoch}: no improvement of {monitor} for {patience} epochs "
                          f"(best: epoch {history.best_epoch}).")
                    break
    except KeyboardInterrupt:
        history.stop_reason = "interrupted"
        print(f"Training interrupted after {len(history['epoch'])} complete epoch(s); returning the history so far"
              + (f", best checkpoint: {checkpoint_path}." if checkpoint_path and history.best_epoch else "."))
    finally:
        epoch_bar.close()
    if restore_best and history.best_epoch is not None:
        if checkpoint_path is not None:
            load_checkpoint(checkpoint_path, model)
        elif best_state is not None:
            model.load_state_dict(best_state)
    return history
