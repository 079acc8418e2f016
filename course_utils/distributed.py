"""Helpers for notebook 10's DDP training script: BatchNorm over the global batch on the CPU, and step timings.

Under DistributedDataParallel (DDP) each rank normalizes with the statistics of its own part of the batch.
``nn.SyncBatchNorm`` computes them over the global batch instead, but it runs on GPUs only. This module does the
same on the CPU (the gloo backend): :class:`CPUSyncBatchNorm2d` adds up the ranks' per-channel sums with
all-reduces, and :func:`sync_batchnorm` converts a model (``nn.SyncBatchNorm`` on a GPU, this class on the CPU).

The one idea to take away is :class:`AllReduceSum`: a sum over ranks that gradients can flow through. Its
backward pass is again a sum over ranks, because every rank's loss depends on every rank's input.

:func:`ddp_step_times` measures where a DDP training step's time goes: computing, or exchanging gradients.
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


class AllReduceSum(torch.autograd.Function):
    """Sum a tensor over all ranks, with a backward pass: the gradient of a sum over ranks is summed over ranks."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class CPUSyncBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` with the statistics of the global batch (all ranks), as ``nn.SyncBatchNorm`` computes them.

    In training mode inside a process group, two all-reduces add up the ranks' per-channel sums: of the values (for
    the mean), then of the squared deviations from that mean (for the variance). Outside training mode, or without
    a process group, it is ``nn.BatchNorm2d``.
    """

    def forward(self, x):
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        if x.dim() != 4:
            raise ValueError(f"CPUSyncBatchNorm2d expects a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")
        shape, dims = (1, x.shape[1], 1, 1), (0, 2, 3)  # statistics per channel, over images and pixels
        count = torch.full((1,), x.numel() / x.shape[1], dtype=x.dtype, device=x.device)  # values per channel here
        sums = AllReduceSum.apply(torch.cat([x.sum(dim=dims), count]))
        n = sums[-1]
        if n.item() <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got {int(n.item())} over all "
                             "ranks (as nn.BatchNorm2d)")
        mean = (sums[:-1] / n).view(shape)
        var = AllReduceSum.apply(((x - mean) ** 2).sum(dim=dims)).view(shape) / n  # biased, as BatchNorm uses
        if self.track_running_stats:
            with torch.no_grad():  # the running averages keep the unbiased variance, as in nn.BatchNorm2d
                self.num_batches_tracked += 1
                momentum = 1 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.flatten(), momentum)
                self.running_var.lerp_(var.flatten() * n / (n - 1), momentum)
        out = (x - mean) * torch.rsqrt(var + self.eps)
        return out * self.weight.view(shape) + self.bias.view(shape) if self.affine else out


def sync_batchnorm(module: nn.Module, device) -> nn.Module:
    """``module`` with every ``BatchNorm2d`` normalizing over the global batch of all ranks.

    On a CUDA ``device``: ``nn.SyncBatchNorm.convert_sync_batchnorm``. On the CPU, every ``nn.BatchNorm2d`` becomes
    a :class:`CPUSyncBatchNorm2d` with the same settings, weights and running statistics (other BatchNorm layers
    raise an error: there is no CPU version of them here). Convert the model before wrapping it in DDP.
    """
    if torch.device(device).type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and type(module) not in (nn.BatchNorm2d,
                                                                                    CPUSyncBatchNorm2d):
        raise ValueError(f"sync_batchnorm on the CPU converts nn.BatchNorm2d only, found {type(module).__name__}")
    if type(module) is nn.BatchNorm2d:
        converted = CPUSyncBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                       module.track_running_stats)
        tensors = list(module.parameters()) + list(module.buffers())
        if tensors:  # the same device and floating-point type as the layer it replaces
            converted.to(device=tensors[0].device, dtype=tensors[0].dtype)
        converted.load_state_dict(module.state_dict())
        converted.train(module.training)
        return converted
    for name, child in module.named_children():
        setattr(module, name, sync_batchnorm(child, device))
    return module


def ddp_step_times(ddp, images, labels, loss_fn=F.cross_entropy, repeats: int = 10) -> dict[str, float]:
    """Where a training step's time goes, for a ``DistributedDataParallel`` model on this rank's share of a batch.

    Returns the median seconds, over ``repeats`` tries, of ``"step"``: forward and backward with DDP's gradient
    all-reduce; ``"compute"``: the same without the all-reduce (inside ``ddp.no_sync()``, which gradient
    accumulation uses too); ``"all_reduce"``: an all-reduce alone of as many numbers as the model has gradients.
    The three take turns, so that a change in the machine's load affects all three alike. Each try starts with a
    barrier, and its time is the slowest rank's (the others wait for it), so every rank returns the same numbers.
    Call it on every rank. It runs in training mode and leaves gradients behind, and BatchNorm layers update their
    running statistics: measure after saving a model, or on a copy.
    """
    if not (isinstance(repeats, int) and repeats >= 1):
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError("ddp_step_times needs a process group: call it in every rank, after init_process_group")
    device = next(ddp.parameters()).device
    gradients = torch.zeros(sum(p.numel() for p in ddp.parameters() if p.requires_grad), device=device)

    def compute_only():
        with ddp.no_sync():  # no all-reduce in this backward
            loss_fn(ddp(images), labels).backward()

    work = {"step": lambda: loss_fn(ddp(images), labels).backward(), "compute": compute_only,
            "all_reduce": lambda: dist.all_reduce(gradients)}
    ddp.train()
    samples = {name: [] for name in work}
    for _ in range(repeats):
        for name, run_once in work.items():
            ddp.zero_grad(set_to_none=True)
            dist.barrier()  # every rank starts together
            start = time.perf_counter()
            run_once()
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # GPU work runs asynchronously: wait for it before stopping the clock
            seconds = torch.tensor([time.perf_counter() - start], dtype=torch.float64, device=device)
            dist.all_reduce(seconds, op=dist.ReduceOp.MAX)  # the slowest rank's time
            samples[name].append(seconds.item())
    return {name: statistics.median(values) for name, values in samples.items()}
