"""Models that later notebooks reuse after an earlier notebook built them step by step.

Each one is taught (and written out in full) in the notebook named in its docstring.
"""
from __future__ import annotations

import torch
from torch import nn


class LeNet(nn.Module):
    """Notebook 03's first CNN, LeNet-5 style, for 32x32 RGB images (62,006 parameters with 10 classes).

    conv 5x5 (3->6) -> act -> max-pool 2 -> conv 5x5 (6->16) -> act -> max-pool 2
    -> flatten (16*5*5 = 400) -> linear 120 -> act -> linear 84 -> act -> linear num_classes.
    ``activation`` is a module class such as ``nn.ReLU`` (default) or ``nn.Tanh``.
    The output is raw logits: feed them to ``nn.CrossEntropyLoss`` (no softmax in the model).
    """

    def __init__(self, num_classes: int = 10, activation: type[nn.Module] = nn.ReLU, in_channels: int = 3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5), activation(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5), activation(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), activation(),
            nn.Linear(120, 84), activation(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class ResidualBlock(nn.Module):
    """Notebook 07's residual block: two 3x3 convolutions with BatchNorm, plus a shortcut.

    ``out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``. The shortcut is the identity
    when the shape stays the same, else a 1x1 convolution (with ``stride``) and BatchNorm that
    project ``x`` to the new number of channels and size. Convolutions followed by BatchNorm have
    no bias (BatchNorm's shift does that job).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


def conv_bn(in_channels: int, out_channels: int, pool: bool = False) -> nn.Sequential:
    """3x3 convolution, BatchNorm, ReLU, and optionally a 2x2 max-pool that halves the size."""
    layers = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
              nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class ResNet9(nn.Module):
    """Notebook 07's ResNet-9 for 32x32 images (the layout of Myrtle.ai's fast CIFAR-10 ResNet).

    stem conv (w0) -> conv+pool (w1) + residual block -> conv+pool (w2) -> conv+pool (w3)
    + residual block -> global max-pool -> linear. 8 convolutions + 1 linear layer = 9 layers with
    weights. ``widths=(64, 128, 256, 512)`` is the full model (6.6 M parameters); smaller widths
    train on a CPU. The logits are scaled by ``logit_scale`` (0.125) so that training starts with
    soft predictions, which makes the high one-cycle learning rate stable.
    """

    def __init__(self, num_classes: int = 10, widths=(64, 128, 256, 512), in_channels: int = 3,
                 logit_scale: float = 0.125):
        super().__init__()
        w0, w1, w2, w3 = widths
        self.features = nn.Sequential(
            conv_bn(in_channels, w0),              # 32x32
            conv_bn(w0, w1, pool=True),            # 16x16
            ResidualBlock(w1, w1),
            conv_bn(w1, w2, pool=True),            # 8x8
            conv_bn(w2, w3, pool=True),            # 4x4
            ResidualBlock(w3, w3),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(w3, num_classes)
        self.logit_scale = logit_scale

    def forward(self, x):
        return self.classifier(self.features(x)) * self.logit_scale  # logits


class FashionCNN(nn.Module):
    """The original post's CNN for 28x28 grey images (Fashion-MNIST), as notebook 08 writes it; reused by 09.

    conv 3x3 1->32 (padding 1), ReLU, 2x2 max-pooling; conv 3x3 32->64 (padding 1), ReLU, 2x2
    max-pooling; flatten (64*7*7 = 3,136); linear 3136->128, ReLU, dropout 0.25; linear 128->
    ``num_classes`` (logits). No BatchNorm: 421,642 parameters with 10 classes. The attribute names
    are the original post's (``conv1``, ``conv2``, ``pool``, ``fc1``, ``fc2``, ``dropout``), so its
    ``state_dict`` loads into this class and back.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2, padding=0)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, num_classes)
        self.dropout = nn.Dropout(0.25)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        x = x.flatten(1)  # not view(-1, 3136): an input of another size must fail, not regroup silently
        x = torch.relu(self.fc1(x))
        x = self.dropout(x)
        return self.fc2(x)  # logits
