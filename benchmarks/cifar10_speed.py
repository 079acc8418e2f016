"""CIFAR-10 training speed: notebook 07's ResNet-9 recipe against airbench94, on the same data and GPU.

    python -m benchmarks.cifar10_speed                          # on a GPU: writes benchmarks/results/
    python -m benchmarks.cifar10_speed --quick --device cpu     # every part tiny, to check the script

(from the repository root, so that ``course_utils`` is imported from the checkout).

Writes ``cifar10_speed.json`` and ``cifar10_speed.md`` (device, versions, data, numbers) to
``--output-dir`` (default ``benchmarks/results``; ``--quick`` writes to a temporary folder unless
``--output-dir`` is given, so that a CPU check never overwrites real results). Parts:

- ``airbench94``: ``airbench.train94()`` from the PyPI package ``airbench`` (imported if installed,
  never copied here), trained ``--runs`` times on the course's CIFAR-10 copy: median wall-clock
  training seconds and median test accuracy (airbench's own evaluation, flip+translate TTA).
- ``course_resnet``: ``course_utils.ResNet9`` (the network notebook 07 defines and checks against
  this one) trained with notebook 07's full-mode recipe through ``course_utils`` (GPULoader,
  parameter_groups, train_one_epoch, evaluate). Median training seconds (evaluation excluded) until
  the flip-TTA test accuracy first reaches airbench94's median accuracy from this same run, and the
  final accuracy. The recipe's numbers are repeated below (RECIPE); keep them in step with notebook 07.
- ``ratio_to_airbench``: course_resnet seconds_to_target / airbench94 train_seconds.
- ``loader_images_per_s``: a torchvision DataLoader with notebook 02's PIL augmentation and 2 workers,
  and ``course_utils.GPULoader``, each over a full epoch, batches moved to the device.
- ``original_recipe_epoch_seconds``: one epoch of the training recipe of the original post that
  notebook 07 compares with (Adam lr 1e-4, batch 32, plain DataLoader with PIL augmentation, fp32).
  Its model is not rebuilt here: a standard CIFAR ResNet-18 (BasicBlocks 64-128-256-512, 11 M
  parameters) stands in.

Without the ``airbench`` package, a full run needs ``--target`` (the accuracy the course's ResNet-9
must reach): the script never assumes an airbench94 accuracy it did not measure.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import transforms

import course_utils as cu

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "benchmarks" / "results"

# Notebook 07's full-mode recipe.
RECIPE = dict(widths=(64, 128, 256, 512), batch_size=512, epochs=12, peak_lr=0.4, momentum=0.9, weight_decay=5e-4,
              label_smoothing=0.2, crop_padding=4, pct_start=0.25, div_factor=20, final_div_factor=100)
QUICK = dict(widths=(8, 16, 32, 64), batch_size=64, epochs=1, train_images=512, test_images=256,
             loader_images=512, original_recipe_images=128, runs=1, target=0.10)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def median_or_none(values):
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if len(finite) * 2 <= len(values) and len(finite) < len(values):  # most runs never got there
        return None
    padded = [v if v is not None else math.inf for v in values]
    return statistics.median(padded)


# -- data ------------------------------------------------------------------------------------------

def load_data(quick: bool, seed: int):
    train, test = cu.load_cifar10(train=True), cu.load_cifar10(train=False)
    train_idx, test_idx = np.arange(len(train)), np.arange(len(test))
    if quick:
        train_idx = cu.balanced_subset(train.targets, QUICK["train_images"], seed=seed)
        test_idx = cu.balanced_subset(test.targets, QUICK["test_images"], seed=seed)
    mean, std = cu.channel_stats(train.data)
    digest = hashlib.sha256(np.ascontiguousarray(train.data).tobytes()).hexdigest()[:16]
    info = {
        "dataset": "CIFAR-10",
        "data_root": str(cu.data_root()),
        "unverified_copy_allowed": cu.data.allow_unverified(),
        "train_images_sha256_16": digest,
        "train_images": len(train_idx),
        "test_images": len(test_idx),
    }
    return train, test, train_idx, test_idx, mean.tolist(), std.tolist(), info


# -- airbench94 -------------------------------------------------------------------------------------

def bench_airbench(train, test, device, runs):
    try:
        import airbench
    except ImportError:
        return {"status": "not installed", "train_seconds": None, "accuracy": None}
    version = getattr(airbench, "__version__", None)
    if version is None:
        with contextlib.suppress(Exception):
            from importlib.metadata import version as _version
            version = _version("airbench")
    if device.type != "cuda":
        return {"status": "skipped: airbench94 needs a CUDA GPU", "version": version,
                "train_seconds": None, "accuracy": None}
    # airbench reads cifar10/train.pt and cifar10/test.pt relative to the working directory (and
    # would download the official data if they were missing): give it the course's copy instead.
    seconds, accuracies = [], []
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cifar10"
        folder.mkdir()
        for name, ds in (("train.pt", train), ("test.pt", test)):
            torch.save({"images": torch.as_tensor(ds.data), "labels": torch.as_tensor(ds.targets),
                        "classes": ds.classes}, folder / name)
        os.chdir(tmp)
        try:
            from airbench.lib_airbench94 import hyp  # airbench94's own settings, as train94() uses them

            # Built once, outside the clock, like the course's GPULoader (train94 resets its epoch counter).
            train_loader = airbench.CifarLoader("cifar10", train=True, batch_size=hyp["opt"]["batch_size"],
                                                aug=hyp["aug"], altflip=True)
            test_loader = airbench.CifarLoader("cifar10", train=False, batch_size=2000)
            airbench.train94(train_loader=train_loader, verbose=False)  # warm-up run (cuDNN autotuning), not counted
            for _ in range(runs):
                sync(device)
                start = time.perf_counter()
                model = airbench.train94(train_loader=train_loader, verbose=False)
                sync(device)
                seconds.append(time.perf_counter() - start)
                accuracies.append(airbench.evaluate(model, test_loader, tta_level=2))
        finally:
            os.chdir(cwd)
    return {"status": "ok", "version": version, "runs": runs, "train_seconds": statistics.median(seconds),
            "accuracy": statistics.median(accuracies), "train_seconds_all": seconds, "accuracy_all": accuracies,
            "timing": "wall clock of airbench.train94(train_loader, verbose=False): model set-up and training; "
                      "data loading and the final TTA evaluation excluded"}


# -- notebook 07's recipe ---------------------------------------------------------------------------

def course_run(train, test, train_idx, test_idx, mean, std, device, recipe, target, seed):
    """One training run; returns seconds until the TTA test accuracy first reached ``target``."""
    cu.seed_everything(seed)
    on_gpu = device.type == "cuda"
    train_loader = cu.GPULoader.from_dataset(train, indices=train_idx, batch_size=recipe["batch_size"], mean=mean,
                                             std=std, shuffle=True, crop_padding=recipe["crop_padding"], flip=True,
                                             drop_last=True, device=device, seed=seed)
    test_loader = cu.GPULoader.from_dataset(test, indices=test_idx, batch_size=1000, mean=mean, std=std,
                                            device=device)
    model = cu.ResNet9(widths=recipe["widths"]).to(device)
    if on_gpu:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(cu.parameter_groups(model, recipe["weight_decay"]), lr=recipe["peak_lr"],
                                momentum=recipe["momentum"], nesterov=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe["peak_lr"], total_steps=recipe["epochs"] * len(train_loader),
        pct_start=recipe["pct_start"], anneal_strategy="linear", cycle_momentum=False,
        div_factor=recipe["div_factor"], final_div_factor=recipe["final_div_factor"])
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe["label_smoothing"])
    common = dict(device=device, loss_fn=loss_fn, mixed_precision=True, channels_last=on_gpu)
    elapsed, to_target, curve = 0.0, None, []
    for epoch in range(1, recipe["epochs"] + 1):
        sync(device)
        start = time.perf_counter()
        cu.train_one_epoch(model, train_loader, optimizer, scheduler=scheduler, epoch=epoch, progress=False, **common)
        sync(device)
        elapsed += time.perf_counter() - start  # training only: the evaluation below is not timed
        accuracy = cu.evaluate(model, test_loader, tta_flip=True, **common)["accuracy"]
        curve.append({"epoch": epoch, "train_seconds": round(elapsed, 3), "tta_accuracy": accuracy})
        if to_target is None and accuracy >= target:
            to_target = elapsed
    return {"seconds_to_target": to_target, "train_seconds": elapsed, "accuracy": curve[-1]["tta_accuracy"],
            "curve": curve}


def bench_course(train, test, train_idx, test_idx, mean, std, device, recipe, target, runs, seed, warmup=True):
    if warmup:  # cuDNN autotuning, allocator: one short epoch of 8 batches, not counted
        warm = dict(recipe, epochs=1)
        course_run(train, test, train_idx[: recipe["batch_size"] * 8], test_idx[:1000], mean, std, device, warm, 1.1,
                   seed)
    results = [course_run(train, test, train_idx, test_idx, mean, std, device, recipe, target, seed + i)
               for i in range(runs)]
    return {
        "runs": runs,
        "target_accuracy": target,
        "seconds_to_target": median_or_none([r["seconds_to_target"] for r in results]),
        "accuracy": statistics.median(r["accuracy"] for r in results),
        "train_seconds": statistics.median(r["train_seconds"] for r in results),
        "seconds_to_target_all": [r["seconds_to_target"] for r in results],
        "accuracy_all": [r["accuracy"] for r in results],
        "curves": [r["curve"] for r in results],
        "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.items()},
        "timing": "training epochs only (per-epoch flip-TTA test evaluation excluded), median over runs",
    }


# -- input pipelines --------------------------------------------------------------------------------

def pil_augmentation(mean, std, padding=4):
    """Notebook 02's training pipeline."""
    return transforms.Compose([transforms.RandomCrop(32, padding=padding), transforms.RandomHorizontalFlip(),
                               transforms.ToTensor(), transforms.Normalize(mean, std)])


def images_per_second(loader, device):
    sync(device)
    start, seen = time.perf_counter(), 0
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        seen += len(images)
    sync(device)
    return seen / (time.perf_counter() - start)


def bench_loaders(train, indices, mean, std, device, batch_size, seed):
    pil = cu.load_cifar10(train=True, transform=pil_augmentation(mean, std))
    data_loader = DataLoader(Subset(pil, indices), batch_size=batch_size, shuffle=True, num_workers=2,
                             pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(seed))
    gpu_loader = cu.GPULoader.from_dataset(train, indices=indices, batch_size=batch_size, mean=mean, std=std,
                                           shuffle=True, crop_padding=4, flip=True, device=device, seed=seed)
    images_per_second(gpu_loader, device)  # warm-up pass
    result = {"dataloader_2_workers": images_per_second(data_loader, device),
              "gpu_loader": images_per_second(gpu_loader, device)}
    result["speedup"] = result["gpu_loader"] / result["dataloader_2_workers"]
    result["images"] = len(indices)
    result["batch_size"] = batch_size
    result["timing"] = "one full pass each, batches moved to the device; DataLoader pass includes worker start-up"
    return result


# -- the original post's recipe ---------------------------------------------------------------------

def original_resnet18(num_classes=10):
    """Stand-in for the original post's model: the usual CIFAR ResNet-18 (3x3 stem, no max-pool)."""
    layers = [nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True)]
    channels = 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [cu.ResidualBlock(channels, width, stride), cu.ResidualBlock(width, width)]
        channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)


def bench_original_recipe(indices, mean, std, device, seed):
    cu.seed_everything(seed)
    pil = cu.load_cifar10(train=True, transform=pil_augmentation(mean, std))
    loader = DataLoader(Subset(pil, indices), batch_size=32, shuffle=True, num_workers=2,
                        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(seed))
    model = original_resnet18().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    sync(device)
    start = time.perf_counter()
    cu.train_one_epoch(model, loader, optimizer, device=device, progress=False)
    sync(device)
    return time.perf_counter() - start


# -- report ------------------------------------------------------------------------------------------

def _fmt(value, spec=".3f"):
    return "n/a" if value is None else format(value, spec)


def markdown(result) -> str:
    air, course, loaders = result["airbench94"], result["course_resnet"], result["loader_images_per_s"]
    lines = [
        "# CIFAR-10 training speed",
        "",
        f"Device: {result['device']}; torch {result['torch']}, torchvision {result['torchvision']}; "
        f"{'QUICK CPU CHECK, not a measurement' if result['quick'] else 'full run'}.",
        f"Data: {result['data']['dataset']} from {result['data']['data_root']} (train sha256 "
        f"{result['data']['train_images_sha256_16']}…, {result['data']['train_images']} train / "
        f"{result['data']['test_images']} test images).",
        "",
        "| measurement | value |",
        "| --- | --- |",
        f"| airbench94 train seconds (median of {air.get('runs', 'no')} runs) | {_fmt(air['train_seconds'], '.2f')} "
        f"({air['status']}) |",
        f"| airbench94 accuracy (median, TTA) | {_fmt(air['accuracy'], '.4f')} |",
        f"| course ResNet-9: target accuracy | {course['target_accuracy']:.4f} ({result['target_source']}) |",
        f"| course ResNet-9: seconds to target (median) | {_fmt(course['seconds_to_target'], '.2f')} |",
        f"| course ResNet-9: final accuracy (median, flip TTA) | {course['accuracy']:.4f} |",
        f"| ratio to airbench94 (target: ≤ 5) | {_fmt(result['ratio_to_airbench'], '.2f')} |",
        f"| DataLoader, 2 workers, PIL augmentation (images/s) | {loaders['dataloader_2_workers']:,.0f} |",
        f"| GPULoader (images/s) | {loaders['gpu_loader']:,.0f} (×{loaders['speedup']:.1f}; target ≥ 20) |",
        f"| the original post's recipe: one epoch (s) | {result['original_recipe_epoch_seconds']:.2f} |",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="every part tiny (subsets, 1 epoch): checks the script")
    parser.add_argument("--device", default=None, help="cuda, cpu, ... (default: the best available)")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help=f"where the JSON and markdown go (default {DEFAULT_OUTPUT}; --quick: a temporary folder)")
    parser.add_argument("--runs", type=int, default=3, help="training runs per method (medians are reported)")
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"], help="epochs of the course recipe")
    parser.add_argument("--target", type=float, default=None,
                        help="target accuracy for the course's ResNet-9 when airbench94 is not installed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import importlib.util

    if not args.quick and args.target is None and importlib.util.find_spec("airbench") is None:
        parser.error("airbench is not installed, so there is no airbench94 accuracy to race to: "
                     "pip install airbench, or give the target accuracy with --target")
    device = cu.get_device(args.device)
    output = args.output_dir or (Path(tempfile.mkdtemp(prefix="cifar10_speed_")) if args.quick else DEFAULT_OUTPUT)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    recipe = dict(RECIPE, epochs=args.epochs)
    runs = QUICK["runs"] if args.quick else args.runs
    if args.quick:
        recipe.update(widths=QUICK["widths"], batch_size=QUICK["batch_size"], epochs=QUICK["epochs"])

    train, test, train_idx, test_idx, mean, std, data_info = load_data(args.quick, args.seed)
    print(f"device: {device_name(device)}; data: {data_info}", flush=True)

    print("airbench94 ...", flush=True)
    if args.quick:  # never a full airbench94 training in a check run
        installed = importlib.util.find_spec("airbench") is not None
        air = {"status": "skipped in --quick mode" if installed else "not installed", "train_seconds": None,
               "accuracy": None}
    else:
        air = bench_airbench(train, test, device, runs)
    if air["accuracy"] is not None:
        target, target_source = air["accuracy"], "airbench94 median accuracy, this run"
    elif args.target is not None:
        target, target_source = args.target, "--target"
    else:  # --quick without --target (a full run without airbench needs --target: checked above)
        target, target_source = QUICK["target"], "quick-mode placeholder"
    print(f"air: {air['status']}; course ResNet-9 to {target:.4f} ...", flush=True)
    course = bench_course(train, test, train_idx, test_idx, mean, std, device, recipe, target, runs, args.seed,
                          warmup=not args.quick)

    loader_idx = train_idx[: QUICK["loader_images"]] if args.quick else train_idx
    print("loaders ...", flush=True)
    loaders = bench_loaders(train, loader_idx, mean, std, device, recipe["batch_size"], args.seed)
    print("the original post's recipe ...", flush=True)
    original_idx = train_idx[: QUICK["original_recipe_images"]] if args.quick else train_idx
    original_seconds = bench_original_recipe(original_idx, mean, std, device, args.seed)

    ratio = None
    if course["seconds_to_target"] is not None and air["train_seconds"]:
        ratio = course["seconds_to_target"] / air["train_seconds"]
    import torchvision

    result = {
        "device": device_name(device),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "quick": args.quick,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "data": data_info,
        "target_source": target_source,
        "airbench94": air,
        "course_resnet": course,
        "ratio_to_airbench": ratio,
        "loader_images_per_s": loaders,
        "original_recipe_epoch_seconds": original_seconds,
        "original_recipe": {"model": "CIFAR ResNet-18 stand-in (11.2 M parameters)", "optimizer": "Adam lr 1e-4",
                            "batch_size": 32, "loader": "DataLoader, 2 workers, PIL augmentation",
                            "images": len(original_idx)},
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / "cifar10_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    (output / "cifar10_speed.md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {output / 'cifar10_speed.json'} and {output / 'cifar10_speed.md'}")
    return result


if __name__ == "__main__":
    main()
