import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def make_blobs(n=256, num_classes=4, seed=0, image_shape=(3, 8, 8)):
    """A learnable toy image dataset: each class is a different constant brightness pattern plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % num_classes
    centers = torch.randn(num_classes, *image_shape, generator=g)
    images = centers[labels] + 0.3 * torch.randn(n, *image_shape, generator=g)
    return TensorDataset(images, labels)


class TinyNet(nn.Module):
    def __init__(self, num_classes=4, in_features=3 * 8 * 8):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, 32), nn.ReLU(), nn.Linear(32, num_classes))

    def forward(self, x):
        return self.net(x)


@pytest.fixture
def blobs():
    return make_blobs()


@pytest.fixture
def loaders(blobs):
    train = DataLoader(blobs, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    val = DataLoader(make_blobs(n=64, seed=0), batch_size=64)
    return train, val


@pytest.fixture
def uint8_images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(50, 8, 8, 3), dtype=np.uint8)
