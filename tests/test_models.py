import torch
from torch import nn

from course_utils import count_parameters
from course_utils.models import FashionCNN, LeNet


def test_lenet_shapes_and_parameters():
    model = LeNet()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert count_parameters(model) == 62006
    assert LeNet(num_classes=100)(torch.zeros(1, 3, 32, 32)).shape == (1, 100)


def test_lenet_activation_choice():
    model = LeNet(activation=nn.Tanh)
    assert any(isinstance(m, nn.Tanh) for m in model.modules())
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())


def test_residual_block_identity_and_projection():
    from course_utils.models import ResidualBlock

    same = ResidualBlock(8, 8)
    assert isinstance(same.shortcut, nn.Identity)
    assert same(torch.randn(2, 8, 16, 16)).shape == (2, 8, 16, 16)
    down = ResidualBlock(8, 16, stride=2)
    assert isinstance(down.shortcut, nn.Sequential) and down.shortcut[0].kernel_size == (1, 1)
    assert down(torch.randn(2, 8, 16, 16)).shape == (2, 16, 8, 8)


def test_resnet9_shapes_and_parameters():
    from course_utils.models import ResNet9

    assert count_parameters(ResNet9()) == 6573130
    small = ResNet9(num_classes=100, widths=(8, 16, 32, 64))
    assert small(torch.zeros(2, 3, 32, 32)).shape == (2, 100)


def test_fashion_cnn_shapes_and_parameters():
    model = FashionCNN()
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert count_parameters(model) == 421642, "the original post's CNN: 320 + 18,496 + 401,536 + 1,290"
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()), "the original post has no BatchNorm"
