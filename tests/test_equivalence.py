"""cu.check_same_outputs and cu.check_same_batches: they pass for a faithful copy and fail, with a clear message,
for a copy that differs and for a control that does not."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import course_utils as cu

MEAN, STD = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]
WIDTHS = (8, 16, 32, 64)


def _inputs():
    return torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def _loader(seed=0, padding=4, batch_size=16):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(64, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=len(images))
    return cu.GPULoader(images, labels, batch_size=batch_size, mean=MEAN, std=STD, shuffle=True,
                        crop_padding=padding, flip=True, drop_last=True, seed=seed)


def test_same_outputs_passes_for_a_faithful_copy():
    model = cu.ResNet9(widths=WIDTHS)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = cu.check_same_outputs(model, cu.ResNet9(widths=WIDTHS), _inputs(),
                                   control=cu.ResNet9(widths=WIDTHS, logit_scale=1.0))
    assert result.compared == 6 * 10 and result.largest_difference <= 1e-6 < result.control_difference
    assert str(result).startswith("same outputs: 60 compared")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "the model itself is unchanged"


def test_same_outputs_copies_batchnorm_statistics():
    """The check changes BatchNorm's defaults before copying, so a copy that kept its own statistics fails."""
    class IgnoresRunningStats(cu.ResNet9):
        def load_state_dict(self, state, strict=True, **kwargs):
            state = {k: v for k, v in state.items() if "running" not in k}
            return super().load_state_dict(state, strict=False, **kwargs)

    with pytest.raises(cu.NotEquivalentError, match="the copy computes something else"):
        cu.check_same_outputs(cu.ResNet9(widths=WIDTHS), IgnoresRunningStats(widths=WIDTHS), _inputs(),
                              control=cu.ResNet9(widths=WIDTHS, logit_scale=1.0))


def test_same_outputs_fails_for_a_different_network():
    avg_pool = cu.ResNet9(widths=WIDTHS)
    avg_pool.features[6] = nn.AdaptiveAvgPool2d(1)  # same parameters, another pooling
    with pytest.raises(cu.NotEquivalentError, match="the copy computes something else: .* differ"):
        cu.check_same_outputs(cu.ResNet9(widths=WIDTHS), avg_pool, _inputs(),
                              control=cu.ResNet9(widths=WIDTHS, logit_scale=1.0))


def test_same_outputs_fails_for_other_shapes_and_for_a_control_that_agrees():
    with pytest.raises(cu.NotEquivalentError, match="the copy cannot take the model's weights"):
        cu.check_same_outputs(cu.ResNet9(widths=WIDTHS), cu.ResNet9(widths=(8, 16, 32, 32)), _inputs(),
                              control=cu.ResNet9(widths=WIDTHS, logit_scale=1.0))
    with pytest.raises(cu.NotEquivalentError, match="the control gave the model's outputs too"):
        cu.check_same_outputs(cu.ResNet9(widths=WIDTHS), cu.ResNet9(widths=WIDTHS), _inputs(),
                              control=cu.ResNet9(widths=WIDTHS))


def test_same_batches_passes_for_the_same_seed():
    result = cu.check_same_batches(_loader(seed=3), _loader(seed=3), control=_loader(seed=4), epochs=3)
    assert result.compared == 3 * 4 and result.largest_difference == 0 and result.control_difference > 0
    assert str(result).startswith("same batches: 12 compared")


def test_same_batches_fails_where_the_copy_differs():
    with pytest.raises(cu.NotEquivalentError, match=r"epoch 1, batch 0, tensor 0: the copy's batch differs"):
        cu.check_same_batches(_loader(padding=4), _loader(padding=2), control=_loader(seed=1))
    # the same first epoch, another second one: only a check over several epochs sees it
    class FirstEpochOnly:
        def __init__(self):
            self.loader, self.epoch = _loader(seed=0), 0

        def __iter__(self):
            self.epoch += 1
            return iter(self.loader) if self.epoch == 1 else iter(_loader(seed=9))

    cu.check_same_batches(_loader(seed=0), FirstEpochOnly(), control=_loader(seed=1), epochs=1)
    with pytest.raises(cu.NotEquivalentError, match="epoch 2, batch 0"):
        cu.check_same_batches(_loader(seed=0), FirstEpochOnly(), control=_loader(seed=1), epochs=2)


class Truncated:
    """The first ``batches`` batches of a loader's epoch."""

    def __init__(self, loader, batches):
        self.loader, self.batches = loader, batches

    def __iter__(self):
        return (batch for _, batch in zip(range(self.batches), self.loader, strict=False))


def test_same_batches_fails_for_fewer_batches_and_for_a_control_that_agrees():
    with pytest.raises(cu.NotEquivalentError, match="the copy ended after 2 batches"):
        cu.check_same_batches(_loader(), Truncated(_loader(), batches=2), control=_loader(seed=1))
    with pytest.raises(cu.NotEquivalentError, match="the control gave the loader's batches too"):
        cu.check_same_batches(_loader(seed=2), _loader(seed=2), control=_loader(seed=2))
    with pytest.raises(ValueError, match="epochs should be a positive integer"):
        cu.check_same_batches(_loader(), _loader(), control=_loader(seed=1), epochs=0)
