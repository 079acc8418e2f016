"""Models that later notebooks reuse after an earlier notebook built them step by step.

Each one is taught (and written out in full) in the notebook named in its docstring.
"""
from __future__ import annotations

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
