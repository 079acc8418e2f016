"""Input checks that turn common mistakes into errors saying what to change.

Each check runs where the mistake is first visible: arguments before any work (in ``fit``, also the
first validation batch before the first epoch), a batch before the model sees it, labels before the
loss (on a GPU without waiting for it, see ``DeferredChecks``). Counts accept NumPy integers wherever
they accept Python integers.
"""
from __future__ import annotations

import contextlib
import numbers
import tempfile
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


def class_labels(values, num_classes: int | None, name: str, where: str):
    """``values`` as a 1-D integer NumPy array, each a class index in ``0..num_classes - 1`` (any, if None)."""
    array = one_dimensional(values, name, where)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        hint = (f" Class names go in class_names=, and {name} holds their indices." if array.dtype.kind in "USO"
                else " Convert with .long() or .astype(int)." if array.dtype.kind == "f" else "")
        raise TypeError(f"{where}: {name} must be integer class indices, got dtype {array.dtype} "
                        f"(e.g. {array.flat[0]!r}).{hint}")
    if num_classes is None:
        return array
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(
            f"{where}: {name} range from {array.min()} to {array.max()}, but there are {num_classes} classes "
            f"(0..{num_classes - 1}). Pass the right num_classes or class names for this dataset."
        )
    return array


def one_dimensional(values, name: str, where: str) -> np.ndarray:
    """``values`` (a list, array, tensor, or generator) as a 1-D NumPy array."""
    if isinstance(values, torch.utils.data.Dataset):
        raise TypeError(f"{where}: {name} is a {type(values).__name__} (a Dataset); pass its labels, "
                        "e.g. cu.targets_of(dataset).")
    if isinstance(values, Iterator):  # a generator or map(): read it once
        values = list(values)
    array = values.detach().cpu().numpy() if torch.is_tensor(values) else np.asarray(values)
    if array.ndim != 1:
        hint = (" Scores or logits (one row per sample)? Pass the predicted classes: outputs.argmax(dim=1)."
                if array.ndim == 2 and array.shape[1] > 1 else "")
        raise ValueError(f"{where}: {name} must be a 1-D sequence (one entry per sample), got shape "
                         f"{array.shape}.{hint}")
    return array


def normalization(mean, std, channels: int, where: str):
    """``mean`` and ``std`` (both or neither) as float tensors with one value per channel (or one for all)."""
    if mean is None and std is None:
        return None, None
    if mean is None or std is None:
        raise ValueError(f"{where}: pass both mean and std (the values given to Normalize), or neither.")
    mean, std = (torch.as_tensor(v, dtype=torch.float32).flatten() for v in (mean, std))
    for name, values in (("mean", mean), ("std", std)):
        if len(values) not in (1, channels):
            raise ValueError(f"{where}: got {channels} channel{'s' * (channels != 1)} in the images but "
                             f"{len(values)} values in {name}: pass one mean and one std per channel.")
    if (std <= 0).any():
        raise ValueError(f"{where}: std must be positive, got {std.tolist()}.")
    if mean.abs().max() > 1.5 or std.max() > 1.5:
        raise ValueError(f"{where}: mean and std are on the 0..1 scale (e.g. 0.49, not 125): divide values on "
                         f"the 0..255 scale by 255; got mean {mean.tolist()}, std {std.tolist()}.")
    return mean, std


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


def positive_int(value, name: str, where: str, minimum: int = 1) -> int:
    """``value`` as a Python int; Python and NumPy integers of at least ``minimum`` are accepted."""
    whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not whole or value < minimum:
        raise ValueError(f"{where}: {name} must be a whole number of at least {minimum}, got {value!r}.")
    return int(value)


def training_arguments(model, optimizer, loss_fn, scheduler, where: str, per_batch: bool,
                       monitor: str = "val_loss") -> None:
    """What ``fit`` and ``train_one_epoch`` check in the same way: the optimizer, the loss, the scheduler."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"{where}: optimizer must be a torch.optim optimizer built on the model's parameters, e.g. "
                        f"torch.optim.SGD(model.parameters(), lr=0.1); got {optimizer!r:.60}.")
    owned = {id(p) for p in model.parameters()}
    if not owned:
        raise ValueError(f"{where}: the model ({type(model).__name__}) has no parameters, so there is nothing to "
                         "train. Evaluate it with cu.evaluate, or add layers with weights.")
    if not any(id(p) in owned for group in optimizer.param_groups for p in group["params"]):
        raise ValueError(f"{where}: the optimizer holds none of this model's parameters, so training would change "
                         "nothing. Was it built for another model? Build it after the model: "
                         "torch.optim.SGD(model.parameters(), ...).")
    loss_function(loss_fn, where)
    if scheduler is not None:
        _scheduler(scheduler, optimizer, per_batch, monitor, where)


def loss_function(loss_fn, where: str) -> None:
    if isinstance(loss_fn, type):
        raise TypeError(f"{where}: loss_fn is the class {loss_fn.__name__}; pass an instance: {loss_fn.__name__}().")
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"{where}: loss_fn must be a loss such as nn.CrossEntropyLoss(), got {loss_fn!r:.60}.")


def fit_arguments(model, train_loader, val_loader, optimizer, *, epochs, loss_fn, scheduler, scheduler_per_batch,
                  patience, monitor, checkpoint_path, validate_every=1) -> None:
    """Everything ``fit`` can check before the first epoch."""
    where = "fit"
    positive_int(epochs, "epochs", where)
    positive_int(validate_every, "validate_every (evaluate after every n-th epoch and after the last)", where)
    if validate_every != 1:
        needs = ("early stopping (patience)" if patience is not None else
                 "ReduceLROnPlateau" if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) else None)
        if needs:
            raise ValueError(f"{where}: {needs} needs the validation {monitor.removeprefix('val_')} after every "
                             f"epoch, but validate_every={validate_every} evaluates only after every "
                             f"{validate_every}-th. Pass validate_every=1, or drop "
                             f"{'patience' if patience is not None else 'the scheduler'}.")
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
    training_arguments(model, optimizer, loss_fn, scheduler, where, scheduler_per_batch, monitor)
    if scheduler is not None:
        _schedule_length(scheduler, epochs, length_or_none(train_loader), scheduler_per_batch, where)
    if checkpoint_path is not None:
        checkpoint_target(checkpoint_path, f"{where} (checkpoint_path)")


def checkpoint_target(path, where: str) -> Path:
    """``path`` as a Path a checkpoint can be written to, checked without writing anything.

    Refused: a folder, a path under a file, a folder that cannot be written (or created), and an
    existing file that is not a PyTorch checkpoint (it would be overwritten).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{where}: {path} is a folder; give a file name, e.g. {path / 'best.pt'}.")
    existing = next(p for p in (path.parent, *path.parent.parents) if p.exists())
    if not existing.is_dir():
        raise NotADirectoryError(f"{where}: cannot write {path}: {existing} is a file, not a folder.")
    try:  # the one sure test of "can I create a file here"; an unnamed temporary file, gone when closed
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        what = "write in" if existing == path.parent else f"create {path.parent} in"
        raise PermissionError(f"{where}: cannot {what} the folder {existing} ({type(error).__name__}: "
                              f"{error.strerror}). Give a checkpoint path in a folder you can write to, e.g. "
                              f"checkpoints/{path.name}.") from error
    if path.is_file() and path.stat().st_size and not _is_torch_file(path):
        raise FileExistsError(f"{where}: {path} exists and is not a PyTorch checkpoint; saving would overwrite it. "
                              "Give another file name, or delete that file first.")
    return path


def _is_torch_file(path: Path) -> bool:
    """``torch.save`` writes a zip archive (since PyTorch 1.6); older files start with a pickle protocol byte."""
    with open(path, "rb") as handle:
        start = handle.read(4)
    return start.startswith(b"PK") or start[:1] == b"\x80"


def _scheduler(scheduler, optimizer, per_batch, monitor, where):
    if not hasattr(scheduler, "step"):
        raise TypeError(f"{where}: scheduler must be a torch.optim.lr_scheduler object, "
                        f"got {type(scheduler).__name__}.")
    if getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError(f"{where}: the scheduler was built for another optimizer, so it would not change this one's "
                         "learning rate. Build it on the optimizer you pass with it.")
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if where != "fit":
            raise ValueError(f"{where}: ReduceLROnPlateau needs the validation loss once per epoch, but "
                             "train_one_epoch steps its scheduler after every batch. Use fit, or call "
                             "scheduler.step(val_loss) yourself after each evaluation.")
        if per_batch:
            raise ValueError(f"{where}: ReduceLROnPlateau reacts to the validation {monitor.removeprefix('val_')} "
                             "once per epoch; drop scheduler_per_batch=True.")
        wanted = "min" if monitor == "val_loss" else "max"
        if scheduler.mode != wanted:
            raise ValueError(f"{where}: monitor={monitor!r} improves when it goes "
                             f"{'down' if wanted == 'min' else 'up'}: build ReduceLROnPlateau(..., mode={wanted!r}).")


def _schedule_length(scheduler, epochs, batches, per_batch, where):
    """A OneCycleLR schedule must last the whole run: it raises an error when stepped past its end."""
    if not isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR) or (per_batch and batches is None):
        return
    left = scheduler.total_steps - scheduler.last_epoch
    steps = epochs * batches if per_batch else epochs
    how = f"{epochs} epochs x {batches} batches" if per_batch else f"once per epoch, {epochs} epochs"
    if steps > left:
        build = "epochs=..., steps_per_epoch=len(train_loader)" if per_batch else "total_steps=epochs"
        raise ValueError(f"{where}: the OneCycleLR schedule has {left} steps left, but fit steps it {steps} times "
                         f"({how}), so it would fail in the middle of training. Build it for this run: "
                         f"OneCycleLR(optimizer, max_lr, {build}).")
    if not per_batch and batches is not None and batches > 1 and left == epochs * batches:
        raise ValueError(f"{where}: the OneCycleLR schedule has {left} steps ({epochs} epochs x {batches} batches), "
                         f"but fit steps it once per epoch, so it would stop after {epochs} of them. Pass "
                         "scheduler_per_batch=True.")


# -- one batch -----------------------------------------------------------------------------------------

def unpack_batch(batch, where: str, model_dtype: torch.dtype = torch.float32):
    """Check a batch is ``(inputs, targets)`` with float images and integer class labels."""
    if not isinstance(batch, (list, tuple)) or len(batch) != 2:
        raise TypeError(f"{where}: each batch must be a pair (inputs, targets), got {_describe(batch)}.")
    inputs, targets = batch
    if not torch.is_tensor(inputs) or not torch.is_tensor(targets):
        hint = ("Convert NumPy arrays with torch.from_numpy, or wrap them in a TensorDataset."
                if isinstance(inputs, np.ndarray) or isinstance(targets, np.ndarray) else
                "Add transforms.ToTensor() (or v2.ToImage + v2.ToDtype) to the dataset.")
        raise TypeError(f"{where}: inputs and targets must be tensors, got {type(inputs).__name__} and "
                        f"{type(targets).__name__}. {hint}")
    if not inputs.is_floating_point():
        raise TypeError(
            f"{where}: inputs have dtype {inputs.dtype}, but a model needs floats. Convert images with "
            "transforms.ToTensor() (scales 0..255 to 0..1) or `x.float() / 255`."
        )
    if inputs.dtype == torch.float64 and model_dtype not in (None, torch.float64):
        raise TypeError(f"{where}: inputs are float64 (NumPy's default) but the model's weights are {model_dtype}. "
                        "Convert the data once: torch.from_numpy(array).float(), or array.astype(np.float32).")
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(f"{where}: targets must be integer class indices, got dtype {targets.dtype}.")
    if targets.ndim != 1 or inputs.ndim < 2 or len(inputs) != len(targets):
        hint = (" Targets with a trailing axis of 1? Pass targets.squeeze(1)." if targets.shape[1:] == (1,) else
                " One-hot targets? Pass class indices: targets.argmax(dim=1)." if targets.ndim == 2 else "")
        raise ValueError(f"{where}: expected inputs (batch, ...) and targets (batch,), got shapes "
                         f"{tuple(inputs.shape)} and {tuple(targets.shape)}.{hint}")
    return inputs, targets


def _describe(batch) -> str:
    if isinstance(batch, dict):
        return (f"a dict with keys {list(batch)[:6]}. Make the dataset return (image, label) pairs, or turn "
                "each batch into (inputs, targets) in the DataLoader's collate_fn")
    if isinstance(batch, (list, tuple)):
        hint = ("A dataset without labels, such as TensorDataset(images)? Add the labels: "
                "TensorDataset(images, labels)" if len(batch) == 1 else
                "Extra items, e.g. pad_collate's sizes? Keep only (inputs, targets): collate_fn="
                "lambda items: pad_collate(items)[:2]" if len(batch) > 2 else "")
        return f"a {type(batch).__name__} of {len(batch)} items" + (f". {hint}" if hint else "")
    return f"a {type(batch).__name__}"


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
    """``model(inputs)``, with a hint when PyTorch's shape or dtype error names the wrong thing."""
    try:
        return model(inputs)
    except RuntimeError as error:
        hint = _shape_hint(str(error), tuple(inputs.shape)) or _dtype_hint(str(error), inputs.dtype, model)
        if hint is None:
            raise
        raise RuntimeError(f"{where}: the model failed on inputs of shape {tuple(inputs.shape)}: {hint}\n"
                           f"(PyTorch said: {error})") from error


def _dtype_hint(message: str, dtype: torch.dtype, model: nn.Module) -> str | None:
    weights = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    mismatch = any(words in message for words in ("same dtype", "should be the same", "expected scalar type"))
    if not mismatch or weights is None or weights == dtype:
        return None
    return (f"the inputs are {dtype} but the model's weights are {weights}. Use the same dtype for both, usually "
            "float32: inputs.float() and model.float() (for speed on a GPU, mixed_precision=True instead).")


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
    expected = f"expected one tensor of logits, shape (batch, num_classes) = ({targets.shape[0]}, C)"
    if isinstance(outputs, dict):
        raise ValueError(f"{where}: the model returned a dict with keys {list(outputs)[:6]}; {expected}. Wrap the "
                         "model in a module whose forward returns only the logits, e.g. model(x)['logits'].")
    if isinstance(outputs, (list, tuple)):
        raise ValueError(f"{where}: the model returned a {type(outputs).__name__} of {len(outputs)} items; {expected}. "
                         "Wrap the model in a module whose forward returns only the logits, e.g. model(x)[0] (for "
                         "torchvision's Inception and GoogLeNet, build them with aux_logits=False).")
    if not torch.is_tensor(outputs) or outputs.ndim != 2 or outputs.shape[0] != targets.shape[0]:
        shape = tuple(outputs.shape) if torch.is_tensor(outputs) else type(outputs).__name__
        hint = ("One number per sample: for classification the last layer needs one output per class "
                "(2 for two classes), with CrossEntropyLoss." if torch.is_tensor(outputs) and outputs.ndim == 1 else
                "Did you forget to flatten before the last Linear layer?")
        raise ValueError(f"{where}: the model returned {shape}; {expected}. {hint}")
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
