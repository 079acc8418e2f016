"""Check that a copy behaves like the original, with a control that must differ.

The course keeps package copies of code that a notebook writes (``ResNet9`` and ``GPULoader``, written in
notebook 07), so that scripts and later notebooks can import them. Equal shapes would not show that a copy is
faithful: a model with another pooling or logit scale has exactly the same parameters. So the checks compare
**behaviour**: the same weights must give the same outputs, the same seed the same batches. A check that could
not fail would prove nothing, so each one also runs a **control**, a variant that must give something else.

Both raise :class:`NotEquivalentError` with what differs, and return a :class:`SameBehaviour` whose ``str`` is a
sentence to print.
"""
from __future__ import annotations

import copy as copy_module
from dataclasses import dataclass

import torch
from torch import nn


class NotEquivalentError(AssertionError):
    """A copy behaved differently from the original, or the control did not (so the check proves nothing)."""


@dataclass(frozen=True)
class SameBehaviour:
    """What a passing check compared: ``compared`` outputs or batches, identical within ``largest_difference``;
    the control differed by ``control_difference``."""

    what: str
    compared: int
    largest_difference: float
    control_difference: float

    def __str__(self) -> str:
        return (f"same {self.what}: {self.compared:,} compared, largest difference {self.largest_difference:.2e}; "
                f"the control differs (largest difference {self.control_difference:.2e})")


def _batch_tensors(batch) -> list[torch.Tensor]:
    tensors = list(batch) if isinstance(batch, list | tuple) else [batch]
    if not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError(f"a batch should be a tensor or a tuple of tensors, got {type(batch).__name__}")
    return tensors


def _difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference of two tensors; infinite when their shapes or dtypes differ."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return float("inf")
    if a.numel() == 0:
        return 0.0
    return (a.double() - b.double()).abs().max().item()


def _non_default_batchnorm(model: nn.Module, inputs: torch.Tensor, seed: int) -> None:
    """Give every BatchNorm layer scales, shifts and running statistics that are not their defaults (scale 1,
    shift 0, mean 0, variance 1): a copy that failed to copy them would then give other outputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
                shape = module.weight.shape
                module.weight.copy_(0.5 + torch.rand(shape, generator=generator))  # 0.5 .. 1.5
                module.bias.copy_(torch.rand(shape, generator=generator) - 0.5)  # -0.5 .. 0.5
        model.train()
        for _ in range(3):  # train-mode passes update the running mean and variance
            model(inputs)


def check_same_outputs(model: nn.Module, copy: nn.Module, inputs: torch.Tensor, *, control: nn.Module,
                       atol: float = 1e-6, seed: int = 0) -> SameBehaviour:
    """Check that ``copy`` computes what ``model`` computes, given the same weights.

    A deep copy of ``model`` gets non-default BatchNorm scales, shifts and running statistics (``model`` itself
    is not changed); its weights are loaded into ``copy`` and into ``control`` (``load_state_dict`` is strict:
    every name and shape must match), and all three run in ``eval()`` mode on ``inputs``. ``copy``'s outputs
    must equal the original's within ``atol``; ``control``, a network with the same parameter shapes that
    computes something else (e.g. another logit scale), must differ by more, or the check proves nothing.
    """
    reference = copy_module.deepcopy(model)
    _non_default_batchnorm(reference, inputs, seed)
    state = reference.state_dict()
    for name, other in (("copy", copy), ("control", control)):
        try:
            other.load_state_dict(state)
        except RuntimeError as error:
            raise NotEquivalentError(f"the {name} cannot take the model's weights (names or shapes differ): "
                                     f"{error}") from error
    with torch.no_grad():
        expected, got, controlled = (m.eval()(inputs) for m in (reference, copy, control))
    difference, control_difference = _difference(expected, got), _difference(expected, controlled)
    if not difference <= atol:
        raise NotEquivalentError(f"the copy computes something else: with the same weights its outputs differ "
                                 f"from the model's by up to {difference:.3g} (allowed: {atol:g})")
    if not control_difference > atol:
        raise NotEquivalentError(f"the control gave the model's outputs too (largest difference "
                                 f"{control_difference:.3g}), so this check would pass for a wrong copy: "
                                 "pass a control that computes something else")
    return SameBehaviour("outputs", expected.numel(), difference, control_difference)


def check_same_batches(loader, copy, *, control, epochs: int = 1) -> SameBehaviour:
    """Check that ``copy`` gives ``loader``'s batches, exactly, for ``epochs`` epochs.

    Each epoch iterates both loaders once (loaders that draw new random numbers per epoch are compared over
    several epochs); every batch (a tensor, or a tuple such as ``(images, labels)``) must be equal, with the same
    number of batches. ``control``, e.g. the same loader with another seed, runs alongside in the first epoch
    and must differ from ``loader`` in at least one batch, or the check proves nothing.
    """
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f"epochs should be a positive integer, got {epochs!r}")
    compared, control_difference = 0, 0.0
    for epoch in range(1, epochs + 1):
        batches, batches_copy = iter(loader), iter(copy)
        control_batches = iter(control) if epoch == 1 else None
        index = 0
        while True:
            batch, batch_copy = next(batches, _END), next(batches_copy, _END)
            if batch is _END and batch_copy is _END:
                break
            if batch is _END or batch_copy is _END:
                shorter = "loader" if batch is _END else "copy"
                raise NotEquivalentError(f"epoch {epoch}: the {shorter} ended after {index} batches, the other "
                                         "gave more")
            tensors, tensors_copy = _batch_tensors(batch), _batch_tensors(batch_copy)
            if len(tensors) != len(tensors_copy):
                raise NotEquivalentError(f"epoch {epoch}, batch {index}: {len(tensors)} tensors vs "
                                         f"{len(tensors_copy)} in the copy")
            for part, (a, b) in enumerate(zip(tensors, tensors_copy, strict=True)):
                if a.shape != b.shape or a.dtype != b.dtype or not torch.equal(a, b):
                    raise NotEquivalentError(
                        f"epoch {epoch}, batch {index}, tensor {part}: the copy's batch differs "
                        f"(shapes {tuple(a.shape)} and {tuple(b.shape)}, dtypes {a.dtype} and {b.dtype}, "
                        f"largest difference {_difference(a, b):.3g})")
            if control_batches is not None:
                control_difference = max(control_difference, _batch_difference(tensors, next(control_batches, _END)))
            index += 1
        if index == 0:
            raise NotEquivalentError(f"epoch {epoch}: the loader gave no batch, so there was nothing to compare")
        if control_batches is not None and next(control_batches, _END) is not _END:
            control_difference = float("inf")  # the control gave more batches
        compared += index
    if control_difference == 0.0:
        raise NotEquivalentError("the control gave the loader's batches too, so this check would pass for a wrong "
                                 "copy: pass a control that gives other batches (e.g. another seed)")
    return SameBehaviour("batches", compared, 0.0, control_difference)


_END = object()


def _batch_difference(tensors: list[torch.Tensor], control_batch) -> float:
    """Largest difference between a batch and the control's batch; infinite where their structure differs."""
    if control_batch is _END:
        return float("inf")  # the control ended sooner
    control_tensors = _batch_tensors(control_batch)
    if len(control_tensors) != len(tensors):
        return float("inf")
    return max(_difference(a, c) for a, c in zip(tensors, control_tensors, strict=True))
