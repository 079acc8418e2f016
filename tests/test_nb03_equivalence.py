"""Notebook 03 writes LeNet in a cell; ``course_utils.models.LeNet`` is the copy later notebooks import.

They are the same network when they compute the same function: with one's weights loaded into the
other, they give exactly the same outputs on a batch (CPU, float32). Parameter counts alone would not
show it (average pooling or another activation has the same count).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

import course_utils as cu
from tools import nbkit
from tools.paths import NOTEBOOK_DIR

NOTEBOOK = NOTEBOOK_DIR / "03_first_cnn.ipynb"
LENET_CELL = r"^class LeNet\(nn\.Module\):"


def notebook_class(source_edit=None):
    """The LeNet class as notebook 03 writes it (optionally with its cell source edited)."""
    namespace = {"__name__": "__notebook__", "nn": nn, "torch": torch}
    if source_edit is None:
        return nbkit.exec_cells(NOTEBOOK, [LENET_CELL], namespace)["LeNet"]
    source = source_edit(nbkit.source(nbkit.find_cell(nbkit.read(NOTEBOOK), LENET_CELL)))
    exec(compile(source, "edited LeNet cell", "exec"), namespace)
    return namespace["LeNet"]


def outputs_with_shared_weights(notebook_net, package_net):
    """Load the notebook network's weights into the package network; both outputs on one batch."""
    package_net.load_state_dict(notebook_net.state_dict())  # strict: every name and shape must match
    batch = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    notebook_net.eval(), package_net.eval()
    with torch.no_grad():
        return notebook_net(batch), package_net(batch)


@pytest.mark.parametrize("activation", [nn.ReLU, nn.Tanh])
@pytest.mark.parametrize("num_classes", [10, 100])
def test_notebook_lenet_is_package_lenet(activation, num_classes):
    torch.manual_seed(0)
    ours = notebook_class()(num_classes=num_classes, activation=activation)
    a, b = outputs_with_shared_weights(ours, cu.LeNet(num_classes=num_classes, activation=activation))
    assert a.shape == (8, num_classes)
    assert torch.equal(a, b), "notebook 03's LeNet and cu.LeNet give different outputs with the same weights"


def test_other_activation_is_caught():
    torch.manual_seed(0)
    ours = notebook_class()()
    a, b = outputs_with_shared_weights(ours, cu.LeNet(activation=nn.Tanh))
    assert not torch.equal(a, b)


def test_other_pooling_is_caught():
    """Average instead of max pooling: same parameters, same count, different network."""
    edited = notebook_class(lambda src: src.replace("nn.MaxPool2d(2)", "nn.AvgPool2d(2)"))
    torch.manual_seed(0)
    ours = edited()
    assert cu.count_parameters(ours) == cu.count_parameters(cu.LeNet())
    a, b = outputs_with_shared_weights(ours, cu.LeNet())
    assert not torch.equal(a, b)
