"""Input checks that turn common mistakes into errors saying what to change.

Each check runs where the mistake is first visible: arguments before any work, a batch before the
model sees it, labels before the loss (on a GPU without waiting for it, see ``DeferredChecks``).
"""
from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

CHANNEL_COUNTS = (1, 3, 4)  # grey, RGB, RGBA


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite: training stopped (lower the learning rate, check the data)."""


# -- image layouts -------------------------------------------------------------------------------------

def batch_layout(shape, layout: str | None = None, where: str = "images") -> str:
    """Layout of an image batch: ``"NHWC"`` (channels last), ``"NCHW"`` (channels second) or ``"NHW"`` (grey).

    A 4-D shape is read from the axis of size 1, 3 or 4 unless ``layout`` says which; a 3-D shape is
    N grey images, unless it looks like a single color image (raised: pass a batch).
    """
    shape = tuple(shape)
    if len(shape) == 3:
        if shape[-1] in (3, 4) or shape[0] == 3:
            raise ValueError(
                f"{where}: shape {shape} is ambiguous: one color image, or {shape[0]} grey images? "
                "For one image pass a batch of one (image[None] or image.unsqueeze(0)); for grey images "
                "add the channel axis (images[:, None])."
            )
        return "NHW"
    if len(shape) != 4:
        raise ValueError(f"{where}: expected a batch of images (N, H, W, C) or (N, C, H, W), got shape {shape}.")
    last, second = shape[3] in CHANNEL_COUNTS, shape[1] in CHANNEL_COUNTS
    if layout is None:
        if last == second:
            raise ValueError(
                f"{where}: cannot tell from shape {shape} whether the channels come last (NHWC) or second "
                f"(NCHW): {'both' if last else 'neither'} of those axes has 1, 3 or 4 entries. "
                "Pass layout='NHWC' or layout='NCHW'."
            )
        return "NHWC" if last else "NCHW"
    if layout not in ("NHWC", "NCHW"):
        raise ValueError(f"{where}: layout must be 'NHWC', 'NCHW' or None, got {layout!r}.")
    channels = shape[3] if layout == "NHWC" else shape[1]
    if channels not in CHANNEL_COUNTS:
        other = "NCHW" if layout == "NHWC" else "NHWC"
        hint = f" The shape looks like {other}: pass layout={other!r}, or leave layout out." if last or second else ""
        raise ValueError(f"{where}: layout={layout!r} puts {channels} channels in shape {shape}, but images have "
                         f"1, 3 or 4.{hint}")
    return layout


def class_labels(values, num_classes: int, name: str, where: str):
    """``values`` as a 1-D integer NumPy array, each a class index in ``0..num_classes - 1``."""
    array = values.detach().cpu().numpy() if torch.is_tensor(values) else np.asarray(values)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"{where}: {name} must be a 1-D sequence of integer class indices, "
                        f"got dtype {array.dtype} and shape {array.shape}.")
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(
            f"{where}: {name} range from {array.min()} to {array.max()}, but there are {num_classes} classes "
            f"(0..{num_classes - 1}). Pass the right num_classes or class names for this dataset."
        )
    return array


# -- training arguments ------------------------------------------------------------------------------

def model_device(model: nn.Module, device, where: str) -> torch.device:
    """The device to run on: ``device``, which must be the model's own, or (``None``) the model's device."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{where}: model must be a torch.nn.Module, got {type(model).__name__}.")
    devices = {t.device for t in (*model.parameters(), *model.buffers())}
    if len(devices) > 1:
        raise ValueError(f"{where}: the model's weights are on several devices {sorted(map(str, devices))}; "
                         "move the whole model with model.to(device).")
    own = devices.pop() if devices else None
    if device is None:
        return own or torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{where}: device={str(device)!r} but PyTorch sees no CUDA GPU; use cu.get_device().")
    same = own is None or own.type == device.type and (None in (own.index, device.index) or own.index == device.index)
    if not same:
        raise ValueError(
            f"{where}: device={str(device)!r} but the model is on {own}. Move the model first (model.to(device), "
            "before building the optimizer), or leave device out: the model's own device is used."
        )
    return device


def loader(value, name: str, where: str, reused: bool = False) -> None:
    """A loader yields batches; a Dataset yields single samples, an iterator is used up after one pass."""
    if isinstance(value, torch.utils.data.Dataset):
        raise TypeError(f"{where}: {name} is a {type(value).__name__} (a Dataset, one sample at a time); wrap it "
                        f"in a DataLoader: DataLoader({name.removesuffix('_loader')}_set, batch_size=64).")
    if value is None or not hasattr(value, "__iter__"):
        raise TypeError(f"{where}: {name} must be a DataLoader (or another iterable of (inputs, targets) batches), "
                        f"got {type(value).__name__}.")
    if reused and isinstance(value, Iterator):
        raise TypeError(f"{where}: {name} is an iterator ({type(value).__name__}), used up after one epoch. Pass "
                        "something that can be iterated every epoch: a DataLoader, a GPULoader or a list of batches.")
    if length_or_none(value) == 0:
        raise ValueError(f"{where}: {name} yields no batches (an empty dataset, or drop_last=True with fewer "
                         "samples than one batch).")


def length_or_none(value):
    try:
        return len(value)
    except TypeError:  # no __len__, e.g. a DataLoader over an IterableDataset
        return None


def positive_int(value, name: str, where: str) -> None:
    whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not whole or value < 1:
        raise ValueError(f"{where}: {name} must be a whole number of at least 1, got {value!r}.")


def fit_arguments(model, train_loader, val_loader, optimizer, *, epochs, loss_fn, scheduler, scheduler_per_batch,
                  patience, monitor, checkpoint_path) -> None:
    """Everything ``fit`` can check before the first epoch."""
    where = "fit"
    positive_int(epochs, "epochs", where)
    if patience is not None:
        positive_int(patience, "patience (epochs without improvement before stopping; None: never stop early)",
                     where)
    if monitor not in ("val_loss", "val_accuracy"):
        raise ValueError(f"{where}: monitor must be 'val_loss' or 'val_accuracy', got {monitor!r}.")
    loader(train_loader, "train_loader", where, reused=True)
    if val_loader is None:
        raise TypeError(f"{where}: val_loader is None, but fit evaluates after every epoch (history, early stopping, "
                        "best checkpoint). Split off a validation set (cu.stratified_split) and pass its DataLoader.")
    loader(val_loader, "val_loader", where, reused=True)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"{where}: optimizer must be a torch.optim optimizer built on the model's parameters, e.g. "
                        f"torch.optim.SGD(model.parameters(), lr=0.1); got {optimizer!r:.60}.")
    owned = {id(p) for p in model.parameters()}
    if not any(id(p) in owned for group in optimizer.param_groups for p in group["params"]):
        raise ValueError(f"{where}: the optimizer holds none of this model's parameters, so training would change "
                         "nothing. Was it built for another model? Build it after the model: "
                         "torch.optim.SGD(model.parameters(), ...).")
    if isinstance(loss_fn, type):
        raise TypeError(f"{where}: loss_fn is the class {loss_fn.__name__}; pass an instance: {loss_fn.__name__}().")
    if scheduler is not None:
        _scheduler(scheduler, optimizer, scheduler_per_batch, monitor, where)
    if checkpoint_path is not None:
        path = Path(checkpoint_path)
        if path.is_dir():
            raise IsADirectoryError(f"{where}: checkpoint_path {path} is a folder; give a file name, "
                                    f"e.g. {path / 'best.pt'}.")
        existing = next(p for p in (path.parent, *path.parent.parents) if p.exists())
        if not existing.is_dir():
            raise NotADirectoryError(f"{where}: cannot write {path}: {existing} is a file, not a folder.")


def _scheduler(scheduler, optimizer, per_batch, monitor, where):
    if not hasattr(scheduler, "step"):
        raise TypeError(f"{where}: scheduler must be a torch.optim.lr_scheduler object, "
                        f"got {type(scheduler).__name__}.")
    if getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError(f"{where}: the scheduler was built for another optimizer, so it would not change this one's "
                         "learning rate. Build it on the optimizer you pass to fit.")
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if per_batch:
            raise ValueError(f"{where}: ReduceLROnPlateau reacts to the validation {monitor.removeprefix('val_')} "
                             "once per epoch; drop scheduler_per_batch=True.")
        wanted = "min" if monitor == "val_loss" else "max"
        if scheduler.mode != wanted:
            raise ValueError(f"{where}: monitor={monitor!r} improves when it goes "
                             f"{'down' if wanted == 'min' else 'up'}: build ReduceLROnPlateau(..., mode={wanted!r}).")


# -- one batch -----------------------------------------------------------------------------------------

def unpack_batch(batch, where: str, model_dtype: torch.dtype = torch.float32):
    """Check a batch is ``(inputs, targets)`` with float images and integer class labels."""
    if not isinstance(batch, (list, tuple)) or len(batch) != 2:
        length = f" of length {len(batch)}" if isinstance(batch, (list, tuple)) else ""
        raise TypeError(f"{where}: each batch must be a pair (inputs, targets), got {type(batch).__name__}{length}.")
    inputs, targets = batch
    if not torch.is_tensor(inputs) or not torch.is_tensor(targets):
        raise TypeError(
            f"{where}: inputs and targets must be tensors, got {type(inputs).__name__} and {type(targets).__name__}. "
            "Add transforms.ToTensor() (or v2.ToImage + v2.ToDtype) to the dataset."
        )
    if not inputs.is_floating_point():
        raise TypeError(
            f"{where}: inputs have dtype {inputs.dtype}, but a model needs floats. Convert images with "
            "transforms.ToTensor() (scales 0..255 to 0..1) or `x.float() / 255`."
        )
    if inputs.dtype == torch.float64 and model_dtype != torch.float64:
        raise TypeError(f"{where}: inputs are float64 (NumPy's default) but the model's weights are {model_dtype}. "
                        "Convert the data once: torch.from_numpy(array).float(), or array.astype(np.float32).")
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(f"{where}: targets must be integer class indices, got dtype {targets.dtype}.")
    if targets.ndim != 1 or inputs.ndim < 2 or len(inputs) != len(targets):
        hint = " One-hot targets? Pass class indices: targets.argmax(dim=1)." if targets.ndim == 2 else ""
        raise ValueError(f"{where}: expected inputs (batch, ...) and targets (batch,), got shapes "
                         f"{tuple(inputs.shape)} and {tuple(targets.shape)}.{hint}")
    return inputs, targets


def batches(loader, where: str):
    """Iterate ``loader``, explaining the collate error of a dataset that returns PIL images."""
    try:
        yield from loader
    except TypeError as error:
        if "default_collate" in str(error) and "PIL" in str(error):
            raise TypeError(f"{where}: the dataset returns PIL images, which cannot be batched. "
                            "Add transforms.ToTensor() to its transform.") from error
        raise


def forward(model: nn.Module, inputs: torch.Tensor, where: str) -> torch.Tensor:
    """``model(inputs)``, with a hint when PyTorch's shape error names the wrong thing."""
    try:
        return model(inputs)
    except RuntimeError as error:
        hint = _shape_hint(str(error), tuple(inputs.shape))
        if hint is None:
            raise
        raise RuntimeError(f"{where}: the model failed on inputs of shape {tuple(inputs.shape)}: {hint}\n"
                           f"(PyTorch said: {error})") from error


def _shape_hint(message: str, shape: tuple) -> str | None:
    if "channels, but got" in message:
        if len(shape) == 3:
            return ("the inputs have no channel axis (batch, height, width), so the batch size was read as a channel "
                    "count. Add the axis with x.unsqueeze(1), or load images with ToTensor(), which adds it.")
        if len(shape) == 4 and shape[3] in CHANNEL_COUNTS and shape[1] not in CHANNEL_COUNTS:
            return ("the inputs are channels-last (batch, height, width, channels); PyTorch's layers want "
                    "(batch, channels, height, width): use x.permute(0, 3, 1, 2), or ToTensor() in the dataset.")
        return "the first convolution expects another number of channels (e.g. grey images into an RGB network)."
    if "shapes cannot be multiplied" in message:
        return ("a Linear layer got another number of features than it was built for: check its in_features "
                "(the flattened size depends on the input's height and width).")
    return None


def outputs_fit(outputs: torch.Tensor, targets: torch.Tensor, where: str) -> int:
    """The number of classes the model predicts; its outputs must be (batch, num_classes)."""
    if not torch.is_tensor(outputs) or outputs.ndim != 2 or outputs.shape[0] != targets.shape[0]:
        shape = tuple(outputs.shape) if torch.is_tensor(outputs) else type(outputs).__name__
        raise ValueError(f"{where}: the model returned {shape}; expected (batch, num_classes) = "
                         f"({targets.shape[0]}, C). Did you forget to flatten before the last Linear layer?")
    return outputs.shape[1]


def labels_in_range(targets: torch.Tensor, num_classes: int, where: str) -> None:
    """Labels must be classes the model can predict (reads the labels: a GPU sync for labels on a GPU)."""
    low, high = (int(v) for v in torch.aminmax(targets))
    if low < 0 or high >= num_classes:
        raise ValueError(_label_message(where, low, high, num_classes))


def _label_message(where, low, high, num_classes, step=None):
    at = f" (step {step})" if step is not None else ""
    return (f"{where}: labels range from {low} to {high}{at}, but the model has {num_classes} outputs "
            f"(classes 0..{num_classes - 1}). Make the last layer as wide as the number of classes.")


def is_on_cpu(tensor: torch.Tensor) -> bool:
    """Labels on the CPU are checked at once; labels on a GPU by ``DeferredChecks``."""
    return tensor.device.type == "cpu"


@contextlib.contextmanager
def unchanged_on_error(model: nn.Module, enabled: bool = True):
    """Put the model's buffers (BatchNorm running statistics) back if the block raises."""
    saved = [b.detach().clone() for b in model.buffers()] if enabled else None
    try:
        yield
    except BaseException:
        if saved is not None:
            with torch.no_grad():
                for buffer, value in zip(model.buffers(), saved, strict=True):
                    buffer.copy_(value)
        raise


class DeferredChecks:
    """Problems found on the device, read back only when ``raise_if_any`` is called.

    Reading a number from the GPU waits for all queued work, so instead of checking every step,
    each step records on the device the first step whose loss is NaN or infinite, and the first
    step whose labels are out of range (with that batch's smallest and largest label);
    ``raise_if_any`` reads all of it in one transfer. The same code runs on the CPU.
    """

    def __init__(self, device: torch.device, where: str, epoch: int):
        self.where, self.epoch, self.num_classes = where, epoch, None
        self.bad_loss_step = torch.full((), -1, dtype=torch.long, device=device)
        self.bad_labels = torch.full((3,), -1, dtype=torch.long, device=device)  # step, smallest, largest label

    def labels(self, step: int, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
        """Record labels out of range; return them clipped into range, so that CUDA does not abort."""
        low, high = torch.aminmax(targets)
        first = ((low < 0) | (high >= num_classes)) & (self.bad_labels[0] < 0)
        seen = torch.stack([torch.full_like(low, step, dtype=torch.long), low.long(), high.long()])
        self.bad_labels = torch.where(first, seen, self.bad_labels)
        self.num_classes = num_classes
        return targets.clamp(0, num_classes - 1)

    def loss(self, step: int, loss: torch.Tensor) -> None:
        first = ~torch.isfinite(loss.detach()) & (self.bad_loss_step < 0)
        self.bad_loss_step = torch.where(first, step, self.bad_loss_step)

    def raise_if_any(self) -> None:
        loss_step, label_step, low, high = torch.cat([self.bad_loss_step[None], self.bad_labels]).tolist()
        if label_step >= 0:
            raise ValueError(_label_message(self.where, low, high, self.num_classes, label_step))
        if loss_step >= 0:
            raise NonFiniteLossError(
                f"The loss became NaN or infinite at epoch {self.epoch}, step {loss_step}. Training stopped. "
                "Try a smaller learning rate, check the inputs for NaNs, or use gradient clipping."
            )
