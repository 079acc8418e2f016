"""Helpers for the PyTorch course notebooks: small modules with one job each.

- ``env``: device, seeding, environment report, run mode
- ``data``: data root, CIFAR-10/100 and Fashion-MNIST loading, channel statistics, splits
- ``gpu_loader``: ``GPULoader``, batches augmented on the device (notebook 07)
- ``train``: ``train_one_epoch``, ``fit``, ``parameter_groups``, ``count_parameters``
- ``evaluation``: ``evaluate``, ``predict``, ``per_class_accuracy``
- ``checkpoints``: ``save_checkpoint``, ``load_checkpoint``
- ``checks``: the input checks behind the clear error messages
- ``plot``: image grids, learning curves, per-class accuracy, confusion matrix
- ``widgets``: interactive explorers
- ``results``: the results table each notebook ends with
- ``selfcheck``: self-checks whose threshold only holds in a full-size, full-mode run
- ``run_settings``: ``RunSettings``, each notebook's sizes per run mode, and its self-checks
- ``compare``: ``compare_runs``, variants repeated over seeds, ranked only beyond their spread
- ``equivalence``: ``check_same_outputs``, ``check_same_batches``: a package copy behaves like the notebook's
  code, with a control that must differ
- ``models``: models that later notebooks reuse (LeNet from 03, ResNet9 from 07, FashionCNN from 08)
- ``pretrained``: torchvision pretrained models that fall back to random weights offline
- ``sampling``: datasets and collate functions that go into DataLoader workers
- ``distributed``: ``sync_batchnorm`` (BatchNorm over the global batch of all DDP ranks, also on the CPU) and
  ``ddp_step_times`` (where a DDP step's time goes), for notebook 10
"""
from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .checks import NonFiniteLossError
from .compare import Comparison, compare_runs
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
from .distributed import AllReduceSum, CPUSyncBatchNorm2d, ddp_step_times, sync_batchnorm
from .env import (
    RUN_MODES,
    detect_platform,
    environment_report,
    get_device,
    release_memory,
    resolve_run_mode,
    seed_everything,
)
from .equivalence import NotEquivalentError, SameBehaviour, check_same_batches, check_same_outputs
from .evaluation import evaluate, per_class_accuracy, predict
from .gpu_loader import GPULoader
from .models import FashionCNN, LeNet, ResidualBlock, ResNet9
from .plot import plot_confusion_matrix, plot_history, plot_per_class_accuracy, show_images, unnormalize
from .pretrained import build_pretrained, weights_cache_path
from .results import show_results
from .run_settings import RunSettings
from .sampling import (
    UNLABELED,
    CsvImageDataset,
    CsvRecordStream,
    MaskedLabels,
    pad_collate,
    seed_worker,
)
from .selfcheck import FullModeExpectationWarning, check_full_mode
from .train import (
    History,
    TrainingInterrupted,
    count_parameters,
    fit,
    last_history,
    parameter_groups,
    train_one_epoch,
)

__all__ = [
    # env
    "RUN_MODES", "detect_platform", "environment_report", "get_device", "release_memory", "resolve_run_mode",
    "seed_everything",
    "RunSettings",
    # data
    "DatasetNotAvailableError", "balanced_subset", "channel_stats", "data_root", "load_cifar10", "load_cifar100",
    "load_fashion_mnist", "stratified_split", "targets_of", "GPULoader",
    # training, evaluation, checkpoints
    "History", "NonFiniteLossError", "TrainingInterrupted", "count_parameters", "fit", "last_history",
    "parameter_groups", "train_one_epoch",
    "evaluate", "per_class_accuracy", "predict",
    "CheckpointError", "load_checkpoint", "save_checkpoint",
    # models
    "FashionCNN", "LeNet", "ResidualBlock", "ResNet9", "build_pretrained", "weights_cache_path",
    # figures and results
    "plot_confusion_matrix", "plot_history", "plot_per_class_accuracy", "show_images", "unnormalize",
    "show_results", "FullModeExpectationWarning", "check_full_mode", "Comparison", "compare_runs",
    # a package copy checked against the notebook's code
    "NotEquivalentError", "SameBehaviour", "check_same_batches", "check_same_outputs",
    # datasets and collate functions for DataLoader workers
    "UNLABELED", "CsvImageDataset", "CsvRecordStream", "MaskedLabels",
    "pad_collate", "seed_worker",
    # distributed training (notebook 10)
    "AllReduceSum", "CPUSyncBatchNorm2d", "ddp_step_times", "sync_batchnorm",
]

__version__ = "0.1.0"
