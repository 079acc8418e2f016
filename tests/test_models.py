import torch
from torch import nn

from course_utils.models import LeNet
from course_utils.train import count_parameters


def test_lenet_shapes_and_parameters():
    model = LeNet()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert count_parameters(model) == 62006
    assert LeNet(num_classes=100)(torch.zeros(1, 3, 32, 32)).shape == (1, 100)


def test_lenet_activation_choice():
    model = LeNet(activation=nn.Tanh)
    assert any(isinstance(m, nn.Tanh) for m in model.modules())
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
