"""Helpers for the PyTorch course notebooks: small modules with one job each.

- ``env``: device, seeding, environment report, run mode
- ``data``: data root, CIFAR-10/100 and Fashion-MNIST loading, channel statistics, splits
- ``gpu_loader``: ``GPULoader``, batches augmented on the device (notebook 07)
- ``train``: ``train_one_epoch``, ``evaluate``, ``fit``, ``parameter_groups``, checkpoints
- ``plot``: image grids, learning curves, per-class accuracy, confusion matrix
- ``widgets``: interactive explorers
- ``results``: the results table each notebook ends with
- ``selfcheck``: self-checks whose threshold only holds in a full-size, full-mode run
- ``models``: models that later notebooks reuse (LeNet from 03, ResNet9 from 07, FashionCNN from 08)
- ``pretrained``: torchvision pretrained models that fall back to random weights offline
- ``sampling``: datasets, samplers and collate functions that go into DataLoader workers
"""
from .data import (
    DatasetNotAvailableError,
    balanced_subset,
    channel_stats,
    data_root,
    load_cifar10,
    load_cifar100,
    load_fashion_mnist,
    stratified_split,
    targets_of,
)
from .gpu_loader import GPULoader
from .env import RUN_MODES, detect_platform, environment_report, get_device, resolve_run_mode, seed_everything
from .models import FashionCNN, LeNet, ResidualBlock, ResNet9
from .pretrained import build_pretrained, weights_cache_path
from .plot import plot_confusion_matrix, plot_history, plot_per_class_accuracy, show_images, unnormalize
from .results import show_results
from .selfcheck import FullModeExpectationWarning, check_full_mode
from .sampling import (
    UNLABELED,
    CsvImageDataset,
    CsvRecordStream,
    LabeledUnlabeledBatchSampler,
    MaskedLabels,
    pad_collate,
    seed_worker,
)
from .train import (
    CheckpointError,
    History,
    NonFiniteLossError,
    count_parameters,
    parameter_groups,
    evaluate,
    fit,
    load_checkpoint,
    per_class_accuracy,
    predict,
    save_checkpoint,
    train_one_epoch,
)

__version__ = "0.1.0"
