"""Training: ``train_one_epoch`` and ``fit``, the loops notebook 03 first writes by hand.

``fit`` reads top to bottom: check the arguments, then for each epoch train, evaluate, record,
keep the best weights and maybe stop early; at the end restore the best weights. The checks live in
``checks.py``, evaluation in ``evaluation.py``, checkpoint files in ``checkpoints.py``.
"""
from __future__ import annotations

import math
import numbers
import time

import torch
from torch import nn
from tqdm.auto import tqdm

from . import checks
from .checkpoints import load_checkpoint, save_checkpoint
from .checks import NonFiniteLossError
from .evaluation import autocast, check_first_batch, evaluate, weights_dtype


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a notebook runner's timeout) stopped ``fit``: the cell stops too, so that nothing after ``fit``
    runs on a half-trained model. The history so far is in ``.history`` and in ``cu.last_history()``."""

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


_last_history: History | None = None


def last_history() -> History | None:
    """The history of the most recent ``fit`` call, also when it was interrupted (None before any call)."""
    return _last_history


NOT_VALIDATED = {"loss": float("nan"), "accuracy": float("nan")}  # a History row of an epoch fit did not evaluate


class History(dict):
    """Per-epoch metrics: a dict of equal-length lists (``pandas.DataFrame(history)`` makes a table).

    ``stop_reason`` is ``"completed"``, ``"early_stopping"``, ``"interrupted"`` or ``"non_finite_loss"``;
    ``best_epoch`` is the epoch (1-based) with the best ``monitor`` value, if any.
    """

    KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")

    def __init__(self):
        super().__init__({key: [] for key in self.KEYS})
        self.stop_reason = "completed"
        self.best_epoch = None

    def append(self, **row):
        for key in self.KEYS:
            self[key].append(row.get(key, float("nan")))


def train_one_epoch(
    model: nn.Module,
    loader,
    optimizer: torch.optim.Optimizer,
    device: torch.device | str | None = None,
    *,
    loss_fn=None,
    scheduler=None,
    mixed_precision: bool = False,
    channels_last: bool = False,
    epoch: int = 1,
    check_every: int = 50,
    progress: bool = True,
) -> dict:
    """Train for one pass over ``loader``; return ``{"loss", "accuracy", "lr"}``: the loss and accuracy averaged
    over the samples seen, and the learning rate of the optimizer's first parameter group at the start of the
    epoch (before ``scheduler`` steps it).

    ``device`` defaults to the model's own. ``scheduler`` (if given) is stepped after every batch, as
    one-cycle and warm-up schedules expect. Labels on the CPU are checked before each batch is used.
    Labels on a GPU (from a ``GPULoader``), and the loss (NaN or infinite), are checked on the device
    and read back only every ``check_every`` steps and at the end, so the GPU never waits for a check.
    """
    where = "training"
    device = checks.model_device(model, device, where)
    checks.loader(loader, "loader", where)
    checks.training_arguments(model, optimizer, loss_fn, scheduler, where, per_batch=True)
    check_every = checks.positive_int(check_every, "check_every", where)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    context, amp_dtype = autocast(device, mixed_precision)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    memory_format = torch.channels_last if channels_last else torch.preserve_format
    deferred = checks.DeferredChecks(device, where, epoch)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen, num_classes = 0, None  # the number of classes is known after the first forward pass
    lr = optimizer.param_groups[0]["lr"]
    model.train()
    bar = tqdm(checks.batches(loader, where), desc=f"epoch {epoch}", leave=False, disable=not progress,
               total=checks.length_or_none(loader))
    for step, batch in enumerate(bar, start=1):
        inputs, targets = checks.unpack_batch(batch, where, weights_dtype(model))
        labels_on_cpu = checks.is_on_cpu(targets)
        if labels_on_cpu and num_classes is not None:
            checks.labels_in_range(targets, num_classes, where)  # before this batch changes anything
        inputs = inputs.to(device, non_blocking=True, memory_format=memory_format)
        with context, checks.unchanged_on_error(model, enabled=step == 1):
            outputs = checks.forward(model, inputs, where)
            num_classes = checks.outputs_fit(outputs, targets, where)
            if step == 1:
                checks.labels_in_range(targets, num_classes, where)  # labels on a GPU: one wait per epoch
            elif not labels_on_cpu:
                targets = deferred.labels(step, targets, num_classes)
            targets = targets.to(device, dtype=torch.long, non_blocking=True)
            loss = loss_fn(outputs, targets)
        deferred.loss(step, loss)
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
        loss_sum += loss.detach().float() * len(targets)
        correct += (outputs.detach().argmax(dim=1) == targets).sum()
        seen += len(targets)
        if step % check_every == 0:
            deferred.raise_if_any()
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}")
    if seen == 0:
        raise ValueError(
            "training: the loader yielded no batches. Is the dataset empty, or is drop_last=True "
            "with fewer samples than one batch?"
        )
    deferred.raise_if_any()
    return {"loss": loss_sum.item() / seen, "accuracy": correct.item() / seen, "lr": lr}


def fit(
    model: nn.Module,
    train_loader,
    val_loader,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    *,
    device: torch.device | str | None = None,
    loss_fn=None,
    scheduler=None,
    scheduler_per_batch: bool = False,
    patience: int | None = None,
    monitor: str = "val_loss",
    checkpoint_path=None,
    restore_best: bool | None = None,
    mixed_precision: bool = False,
    channels_last: bool = False,
    tta_flip: bool = False,
    progress: bool = True,
    validate_every: int = 1,
) -> History:
    """Train for ``epochs`` epochs, evaluating on ``val_loader`` after each; return a ``History``.

    - ``device``: default, the model's own device (a model elsewhere than ``device`` is an error).
    - ``scheduler`` is stepped once per epoch, or once per batch with ``scheduler_per_batch=True``;
      ``ReduceLROnPlateau`` is stepped once per epoch with the ``monitor`` value.
    - ``monitor``: ``"val_loss"`` (lower is better) or ``"val_accuracy"`` (higher is better) picks
      the best epoch. ``patience``: stop after that many epochs without improvement.
    - ``checkpoint_path``: the best epoch's weights are saved there (atomically) each time it improves.
    - ``restore_best``: True: the model ends with the best epoch's weights (read back from
      ``checkpoint_path``, or from a CPU copy kept in memory); False: with the last epoch's. The
      default (None) restores when ``patience`` or ``checkpoint_path`` is given, and otherwise keeps
      the last epoch's weights, the ones a learning-rate schedule ends on.
    - Errors in the arguments, and in the first validation batch (checked with one forward pass in
      eval mode), are raised before the first epoch. Ctrl-C (KeyboardInterrupt) stops
      cleanly: the best weights are restored as at the end, then ``TrainingInterrupted`` (a KeyboardInterrupt)
      stops the cell, and ``cu.last_history()`` returns the history so far. A NaN or infinite loss (training or
      validation) raises ``NonFiniteLossError`` after restoring the best weights; the history is in
      ``error.history``.
    - ``validate_every``: evaluate only after every ``validate_every``-th epoch and after the last one (e.g.
      ``validate_every=epochs``: once, at the end), when only the final numbers are used; the other epochs'
      rows have NaN validation values, and the best epoch is chosen among the evaluated ones. Early stopping
      and ``ReduceLROnPlateau`` need a validation value after every epoch, so they need ``validate_every=1``.
    """
    device = checks.model_device(model, device, "fit")
    checks.fit_arguments(model, train_loader, val_loader, optimizer, epochs=epochs, loss_fn=loss_fn,
                         scheduler=scheduler, scheduler_per_batch=scheduler_per_batch, patience=patience,
                         monitor=monitor, checkpoint_path=checkpoint_path, validate_every=validate_every)
    check_first_batch(model, val_loader, "val_loader", device, loss_fn=loss_fn, mixed_precision=mixed_precision,
                      channels_last=channels_last, tta_flip=tta_flip)  # before an epoch of training, not after
    epochs, validate_every = int(epochs), int(validate_every)
    if restore_best is None:
        restore_best = patience is not None or checkpoint_path is not None
    if channels_last:
        model.to(memory_format=torch.channels_last)
    metric = monitor.removeprefix("val_")  # "loss" or "accuracy"
    sign = 1.0 if metric == "loss" else -1.0  # so that lower is always better
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    history, best, best_state, since_best, failure = History(), math.inf, None, 0, None
    common = dict(device=device, loss_fn=loss_fn, mixed_precision=mixed_precision, channels_last=channels_last)
    epoch_bar = tqdm(range(1, epochs + 1), desc="fit", disable=not progress)
    try:
        for epoch in epoch_bar:
            start = time.perf_counter()
            train = train_one_epoch(model, train_loader, optimizer, epoch=epoch, progress=progress,
                                    scheduler=scheduler if scheduler_per_batch else None, **common)
            validated = epoch % validate_every == 0 or epoch == epochs
            val = evaluate(model, val_loader, tta_flip=tta_flip, **common) if validated else NOT_VALIDATED
            if plateau:
                scheduler.step(val[metric])
            elif scheduler is not None and not scheduler_per_batch:
                scheduler.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            history.append(epoch=epoch, train_loss=train["loss"], train_accuracy=train["accuracy"],
                           val_loss=val["loss"], val_accuracy=val["accuracy"], lr=train["lr"],
                           seconds=time.perf_counter() - start)
            if not validated:
                continue
            epoch_bar.set_postfix(val_acc=f"{val['accuracy']:.3f}", val_loss=f"{val['loss']:.3f}")
            if not math.isfinite(val["loss"]):
                raise NonFiniteLossError(f"The validation loss is {val['loss']} after epoch {epoch}: the model's "
                                         "outputs are NaN or infinite. Check the validation inputs for NaNs, or "
                                         "try a smaller learning rate.")
            if sign * val[metric] < best:
                best, since_best, history.best_epoch = sign * val[metric], 0, epoch
                if checkpoint_path is not None:
                    save_checkpoint(checkpoint_path, model, epoch=epoch, **{monitor: val[metric]})
                elif restore_best:
                    best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            else:
                since_best += 1
                if patience is not None and since_best >= patience:
                    history.stop_reason = "early_stopping"
                    print(f"Early stopping after epoch {epoch}: no improvement of {monitor} for {patience} epochs "
                          f"(best: epoch {history.best_epoch}).")
                    break
    except KeyboardInterrupt:
        history.stop_reason = "interrupted"
    except NonFiniteLossError as error:
        history.stop_reason, failure = "non_finite_loss", error
    finally:
        epoch_bar.close()
    restored = restore_best and history.best_epoch is not None
    if restored:
        if checkpoint_path is not None:
            load_checkpoint(checkpoint_path, model)
        else:
            model.load_state_dict(best_state)
    global _last_history
    _last_history = history
    if history.stop_reason == "interrupted":
        kept = f" The model holds the weights of epoch {history.best_epoch}, the best." if restored else ""
        saved = f" Best checkpoint: {checkpoint_path}." if checkpoint_path and history.best_epoch else ""
        raise TrainingInterrupted(
            f"Training interrupted after {len(history['epoch'])} complete epoch(s).{kept}{saved} The history so far: "
            "history = cu.last_history()", history) from None
    if failure is not None:
        kept = f"The model holds the weights of epoch {history.best_epoch}, the best. " if restored else ""
        error = NonFiniteLossError(f"{failure} {kept}The history so far is in error.history.")
        error.history = history
        raise error from failure
    return history


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two optimizer parameter groups: weights with ``weight_decay``, and biases and normalization
    parameters (BatchNorm/LayerNorm scales and shifts) without it.

    Weight decay pulls weights towards 0 to keep the network simple; on a BatchNorm scale or a
    bias it only fights the normalization, so the usual recipe exempts them. Parameters with fewer
    than 2 dimensions are exactly those (a conv or linear weight has 2 or more). Frozen parameters
    (``requires_grad=False``) are left out. Use as
    ``torch.optim.SGD(parameter_groups(model, 5e-4), lr=0.1, momentum=0.9, nesterov=True)``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"parameter_groups takes the model itself, got {type(model).__name__}: "
                        "parameter_groups(model, weight_decay), not model.parameters().")
    if not isinstance(weight_decay, numbers.Real) or isinstance(weight_decay, bool) or weight_decay < 0:
        raise ValueError(f"weight_decay must be a non-negative number, got {weight_decay!r}")
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    return [{"params": decay, "weight_decay": float(weight_decay)}, {"params": no_decay, "weight_decay": 0.0}]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
