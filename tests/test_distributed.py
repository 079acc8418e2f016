"""course_utils.distributed: BatchNorm over the global batch on the CPU, and step timings, as notebook 10 uses them.

Two gloo processes each normalize half of a batch with ``CPUSyncBatchNorm2d``; one ``nn.BatchNorm2d`` normalizes
the whole batch. The outputs, the gradients (after averaging over the ranks, as DDP does) and the running
statistics must be the same: that is what "synchronized" means.
"""
from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

import course_utils as cu

WORLD = 2
BATCH, CHANNELS = 6, 3  # 3 images per rank


def whole_batch(seed=0):
    """The same inputs and loss weights on every rank (float64: rounding stays far below any real difference)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, CHANNELS, 5, 4, generator=g, dtype=torch.float64) * 3 + 1
    w = torch.randn(BATCH, CHANNELS, 5, 4, generator=g, dtype=torch.float64)  # a loss that is not symmetric
    return x, w


def batchnorm(momentum):
    """A BatchNorm2d with weights and running statistics that are not the defaults."""
    bn = nn.BatchNorm2d(CHANNELS, momentum=momentum).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.5, 2.0, -1.0]))
        bn.bias.copy_(torch.tensor([0.1, -0.3, 0.7]))
        bn.running_mean.copy_(torch.tensor([0.2, -0.1, 0.4]))
        bn.running_var.copy_(torch.tensor([1.5, 0.8, 2.0]))
    return bn


def step(bn, x, w):
    """Two training-mode forward passes (the running statistics are updated twice) and a backward of the second."""
    x = x.clone().requires_grad_(True)
    bn(x * 0.5)
    out = bn(x)
    F.mse_loss(out, w).backward()  # a mean over this process's images, as a training loss is
    return out.detach(), x.grad, bn


def reference(momentum):
    """nn.BatchNorm2d on the whole batch, in one process."""
    x, w = whole_batch()
    out, x_grad, bn = step(batchnorm(momentum), x, w)
    return {"out": out, "x_grad": x_grad, "weight_grad": bn.weight.grad, "bias_grad": bn.bias.grad,
            **{name: value.clone() for name, value in bn.state_dict().items()}}


def rank_worker(rank, store_path, results_path):
    """One of the two ranks: its half of the batch through the converted layer; the gradients averaged as DDP does."""
    torch.set_num_threads(1)
    store = dist.FileStore(store_path, WORLD)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=WORLD)
    try:
        x, w = whole_batch()
        results = {}
        for momentum in (0.1, None):  # None: a cumulative average, as nn.BatchNorm2d does with momentum=None
            model = cu.sync_batchnorm(nn.Sequential(batchnorm(momentum)), "cpu")
            out, x_grad, bn = step(model[0], x.chunk(WORLD)[rank], w.chunk(WORLD)[rank])
            grads = torch.cat([bn.weight.grad, bn.bias.grad])
            dist.all_reduce(grads)
            grads /= WORLD  # DDP averages the parameters' gradients over the ranks
            # The input's gradient stays on its rank; through the all-reduces it already holds every rank's loss,
            # so it is the gradient of the sum of the ranks' losses: divided by WORLD, of their average.
            results[momentum] = {"type": type(bn).__name__, "out": out, "x_grad": x_grad / WORLD,
                                 "weight_grad": grads[:CHANNELS], "bias_grad": grads[CHANNELS:],
                                 **{name: value.clone() for name, value in bn.state_dict().items()}}
            bn.eval()  # outside training mode: the running statistics, no communication
            results[momentum]["eval_out"] = bn(x.chunk(WORLD)[rank]).detach()
        ddp = torch.nn.parallel.DistributedDataParallel(nn.Sequential(nn.Flatten(), nn.Linear(60, 4)).double())
        results["times"] = cu.ddp_step_times(ddp, x.chunk(WORLD)[rank], torch.tensor([0, 1, 3]), repeats=3)
        torch.save(results, results_path.format(rank=rank))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("syncbn")
    results_path = str(folder / "rank{rank}.pt")
    mp.spawn(rank_worker, args=(str(folder / "store"), results_path), nprocs=WORLD, join=True)
    return [torch.load(results_path.format(rank=rank), weights_only=False) for rank in range(WORLD)]


@pytest.mark.parametrize("momentum", [0.1, None])
def test_two_ranks_on_half_batches_equal_batchnorm_on_the_whole_batch(ranks, momentum):
    expected = reference(momentum)
    assert expected["num_batches_tracked"] == 2
    for rank, results in enumerate(ranks):
        got = results[momentum]
        assert got["type"] == "CPUSyncBatchNorm2d", "sync_batchnorm must replace the BatchNorm2d"
        for name in ("out", "x_grad"):  # this rank's half of the whole batch
            torch.testing.assert_close(got[name], expected[name].chunk(WORLD)[rank], rtol=1e-12, atol=1e-12,
                                       msg=lambda m, name=name, rank=rank: f"rank {rank}, {name}: {m}")
        for name in ("weight_grad", "bias_grad", "running_mean", "running_var", "weight", "bias",
                     "num_batches_tracked"):
            torch.testing.assert_close(got[name], expected[name], rtol=1e-12, atol=1e-12,
                                       msg=lambda m, name=name, rank=rank: f"rank {rank}, {name}: {m}")


def test_eval_mode_uses_the_running_statistics(ranks):
    bn = batchnorm(0.1)
    x, _ = whole_batch()
    for rank, results in enumerate(ranks):
        bn.load_state_dict({k: v for k, v in results[0.1].items() if k in bn.state_dict()})
        expected = bn.eval()(x.chunk(WORLD)[rank])
        torch.testing.assert_close(results[0.1]["eval_out"], expected, rtol=1e-12, atol=1e-12)


def test_per_rank_batchnorm_differs_so_the_test_can_fail():
    """The negative control: nn.BatchNorm2d on each half alone gives other outputs than on the whole batch."""
    x, w = whole_batch()
    whole = reference(0.1)["out"]
    halves = torch.cat([step(batchnorm(0.1), half, w_half)[0] for half, w_half in zip(x.chunk(WORLD), w.chunk(WORLD),
                                                                                       strict=True)])
    assert (halves - whole).abs().max() > 1e-3


def test_without_a_process_group_it_is_batchnorm():
    assert not dist.is_initialized()
    x, w = whole_batch()
    converted = cu.sync_batchnorm(nn.Sequential(batchnorm(0.1)), torch.device("cpu"))[0]
    out, x_grad, bn = step(converted, x, w)
    expected = reference(0.1)
    torch.testing.assert_close(out, expected["out"])
    torch.testing.assert_close(x_grad, expected["x_grad"])
    torch.testing.assert_close(bn.running_var, expected["running_var"])


def test_conversion_keeps_the_settings_and_the_state():
    bn = nn.BatchNorm2d(4, eps=1e-3, momentum=0.3, affine=False).double()
    bn.running_mean.fill_(0.25)
    model = cu.sync_batchnorm(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Sequential(bn)), "cpu")
    converted = model[1][0]
    assert isinstance(converted, cu.CPUSyncBatchNorm2d) and isinstance(model[0], nn.Conv2d)
    assert (converted.eps, converted.momentum, converted.affine) == (1e-3, 0.3, False)
    assert converted.running_mean.dtype == torch.float64 and converted.running_mean.eq(0.25).all()
    assert isinstance(cu.sync_batchnorm(nn.BatchNorm2d(3), "cpu"), cu.CPUSyncBatchNorm2d), "a BatchNorm2d alone"


def test_other_batchnorm_layers_give_a_clear_error_on_the_cpu():
    with pytest.raises(ValueError, match="converts nn.BatchNorm2d only, found BatchNorm1d"):
        cu.sync_batchnorm(nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)), "cpu")


def test_step_times_are_the_slowest_ranks_and_the_same_on_every_rank(ranks):
    times = [results["times"] for results in ranks]
    assert set(times[0]) == {"step", "compute", "all_reduce"}
    assert times[0] == times[1], "each time is the slowest rank's, so every rank returns the same numbers"
    assert all(0 < t < 10 for t in times[0].values()), times[0]


def test_step_times_need_a_process_group_and_a_positive_repeat_count():
    model = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="repeats must be a positive integer"):
        cu.ddp_step_times(model, torch.zeros(1, 3), torch.zeros(1, dtype=torch.long), repeats=0)
    with pytest.raises(RuntimeError, match="needs a process group"):
        cu.ddp_step_times(model, torch.zeros(1, 3), torch.zeros(1, dtype=torch.long))
