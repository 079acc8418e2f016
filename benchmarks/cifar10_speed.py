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
  final accuracy. The recipe's numbers are repeated below (RECIPE, and the calls of build_run);
  tests/test_nb07_equivalence.py fails when they differ from notebook 07's parameters and training cell.
- ``ratio_to_airbench``: course_resnet seconds_to_target / airbench94 train_seconds.
- ``loader_images_per_s``: a torchvision DataLoader with notebook 02's PIL augmentation and 2 workers,
  and ``course_utils.GPULoader``, each over a full epoch, batches moved to the device.
- ``original_recipe_epoch_seconds``: one epoch of the training recipe of the original post that
  notebook 07 compares with (Adam lr 1e-4, batch 32, plain DataLoader with PIL augmentation, fp32).
  Its model is not rebuilt here: a standard CIFAR ResNet-18 (BasicBlocks 64-128-256-512, 11 M
  parameters) stands in.

Without the ``airbench`` package, a full run needs ``--target`` (the accuracy the course's ResNet-9
must reach): the script never assumes an airbench94 accuracy it did not measure.

Variants of the recipe (issue 25, item 4), each timed against the same airbench94 run of the same process:

    python -m benchmarks.cifar10_speed --parts airbench,course --variants baseline epochs16 compile batch1024
    python -m benchmarks.cifar10_speed --parts airbench,course --variants "e18:epochs=18,peak_lr=0.5"
    python -m benchmarks.cifar10_speed --parts course --target 0.9058 --profile benchmarks/results/profile

``--variants`` takes names from ``VARIANTS`` or ``NAME:KEY=VALUE,...`` (keys: RECIPE's and ``compile``);
each variant is trained ``--runs`` times and recorded under ``variants`` (the first one is also the
top-level ``course_resnet``). ``--parts`` leaves out the parts already measured (the input pipelines and
the original post's recipe). ``--profile DIR`` writes, before the variants run, a ``torch.profiler`` trace
of one epoch of the first variant (after one warm-up epoch) to ``DIR/profile_trace.json.gz`` and its table
of operators to ``DIR/profile_table.txt``; the profiler slows the epoch down, so its seconds are no timing.
The JSON file is rewritten after each part and each variant, so a run stopped early keeps what it measured.
"""
from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import math
import os
import platform
import shutil
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

# Notebook 07's full-mode recipe: its parameters cell's full-mode values and its training cell's OneCycleLR
# settings (tests/test_nb07_equivalence.py checks that they agree).
RECIPE = dict(widths=(64, 128, 256, 512), batch_size=512, epochs=12, peak_lr=0.4, momentum=0.9, weight_decay=5e-4,
              label_smoothing=0.2, crop_padding=4, pct_start=0.25, div_factor=20, final_div_factor=100)
QUICK = dict(widths=(8, 16, 32, 64), batch_size=64, epochs=1, train_images=512, test_images=256,
             loader_images=512, original_recipe_images=128, runs=1, target=0.10)

# What benchmarks/README.md lists to try for the missed target, as changes to RECIPE. ``compile``: the
# torch.compile backend ("inductor" is torch's default), or False. batch1024's peak learning rate is the
# square-root scaling of RECIPE's (0.4 * sqrt(2)), a starting point, not a tuned value.
VARIANTS = {
    "baseline": {},
    "epochs14": {"epochs": 14},
    "epochs16": {"epochs": 16},
    "compile": {"compile": "inductor"},
    "compile_epochs16": {"compile": "inductor", "epochs": 16},
    "batch1024": {"batch_size": 1024, "peak_lr": 0.57},
}
PARTS = ("airbench", "course", "loaders", "original")


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

def load_data(quick: bool, seed: int, images: tuple[int, int] | None = None):
    """CIFAR-10; ``quick``: class-balanced subsets of QUICK's sizes, or of ``images`` (train, test)."""
    train, test = cu.load_cifar10(train=True), cu.load_cifar10(train=False)
    train_idx, test_idx = np.arange(len(train)), np.arange(len(test))
    if quick:
        train_images, test_images = images or (QUICK["train_images"], QUICK["test_images"])
        train_idx = cu.balanced_subset(train.targets, train_images, seed=seed)
        test_idx = cu.balanced_subset(test.targets, test_images, seed=seed)
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
            "timing": "wall clock of airbench.train94(train_loader, verbose=False): model set-up, airbench's own "
                      "loading of test.pt (train94 always loads it) and training; the training data's loading and "
                      "the final TTA evaluation excluded"}


# -- notebook 07's recipe ---------------------------------------------------------------------------

def build_run(train, test, train_idx, test_idx, mean, std, device, recipe, seed):
    """Loaders, model (compiled when ``recipe["compile"]`` names a backend), optimizer, schedule and the
    keyword arguments of ``cu.train_one_epoch``/``cu.evaluate`` for one run of ``recipe``."""
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
    if recipe.get("compile"):
        model = torch.compile(model, backend=recipe["compile"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe["peak_lr"], total_steps=recipe["epochs"] * len(train_loader),
        pct_start=recipe["pct_start"], anneal_strategy="linear", cycle_momentum=False,
        div_factor=recipe["div_factor"], final_div_factor=recipe["final_div_factor"])
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe["label_smoothing"])
    common = dict(device=device, loss_fn=loss_fn, mixed_precision=True, channels_last=on_gpu)
    return train_loader, test_loader, model, optimizer, scheduler, common


def course_run(train, test, train_idx, test_idx, mean, std, device, recipe, target, seed):
    """One training run; returns seconds until the TTA test accuracy first reached ``target``."""
    train_loader, test_loader, model, optimizer, scheduler, common = build_run(
        train, test, train_idx, test_idx, mean, std, device, recipe, seed)
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
    warmup_seconds = None
    if warmup:  # cuDNN autotuning, allocator, torch.compile's compilation: one short epoch of 8 batches, not counted
        warm = dict(recipe, epochs=1)
        sync(device)
        start = time.perf_counter()
        course_run(train, test, train_idx[: recipe["batch_size"] * 8], test_idx[:1000], mean, std, device, warm, 1.1,
                   seed)
        sync(device)
        warmup_seconds = time.perf_counter() - start
    results = [course_run(train, test, train_idx, test_idx, mean, std, device, recipe, target, seed + i)
               for i in range(runs)]
    return {
        "runs": runs,
        "warmup_seconds": warmup_seconds,
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


# -- variants and profile ------------------------------------------------------------------------------

def parse_variant(spec: str) -> tuple[str, dict]:
    """``NAME`` (a key of VARIANTS) or ``NAME:KEY=VALUE,...`` -> (name, changes to RECIPE)."""
    import ast

    name, _, settings = spec.partition(":")
    if not settings:
        if spec not in VARIANTS:
            raise ValueError(f"unknown variant {spec!r}: use one of {', '.join(VARIANTS)}, "
                             "or NAME:KEY=VALUE,... (e.g. e18:epochs=18,peak_lr=0.5)")
        return spec, dict(VARIANTS[spec])
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"variant name {name!r}: use letters, digits, '_' and '-' only")
    changes = {}
    for item in settings.split(","):
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or key not in {*RECIPE, "compile"}:
            raise ValueError(f"variant {name!r}: {item!r} is not KEY=VALUE with KEY one of "
                             f"{', '.join([*RECIPE, 'compile'])}")
        try:
            changes[key] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            changes[key] = text.strip()  # e.g. compile=inductor
    return name, changes


def variant_recipe(changes: dict, quick: bool, compile_backend: str | None = None, epochs: int | None = None) -> dict:
    """RECIPE with a variant's changes; ``quick``: QUICK's widths and epochs, the batch size scaled as the
    variant scales it; ``compile_backend`` replaces the backend of a compiled variant (tests use "eager")."""
    recipe = dict(RECIPE, compile=False)
    if epochs is not None:
        recipe["epochs"] = epochs
    recipe.update(changes)
    if recipe["compile"] is True:
        recipe["compile"] = "inductor"
    if recipe["compile"] and compile_backend:
        recipe["compile"] = compile_backend
    if quick:
        scale = recipe["batch_size"] / RECIPE["batch_size"]
        recipe.update(widths=QUICK["widths"], batch_size=max(2, round(QUICK["batch_size"] * scale)),
                      epochs=QUICK["epochs"])
    return recipe


def dynamo_graphs():
    """How many graphs torch.compile has built so far in this process (None if unknown): more than the
    model's few (train and eval) means that it recompiled, e.g. per model instance."""
    with contextlib.suppress(Exception):
        from torch._dynamo.utils import counters

        return int(counters["stats"]["unique_graphs"])
    return None


def profile_epoch(train, test, train_idx, test_idx, mean, std, device, recipe, seed, out_dir: Path, rows=25):
    """torch.profiler over one training epoch of ``recipe`` (after one warm-up epoch, not profiled)."""
    from torch.profiler import ProfilerActivity, profile

    out_dir.mkdir(parents=True, exist_ok=True)
    recipe = dict(recipe, epochs=2)
    train_loader, _, model, optimizer, scheduler, common = build_run(
        train, test, train_idx, test_idx, mean, std, device, recipe, seed)
    cu.train_one_epoch(model, train_loader, optimizer, scheduler=scheduler, epoch=1, progress=False, **common)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sync(device)
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        cu.train_one_epoch(model, train_loader, optimizer, scheduler=scheduler, epoch=2, progress=False, **common)
        sync(device)
    seconds = time.perf_counter() - start
    trace = out_dir / "profile_trace.json"
    prof.export_chrome_trace(str(trace))
    with open(trace, "rb") as src, gzip.open(out_dir / "profile_trace.json.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    trace.unlink()
    sort_by = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    averages = prof.key_averages()
    (out_dir / "profile_table.txt").write_text(averages.table(sort_by=sort_by, row_limit=rows) + "\n")
    top = sorted(averages, key=lambda e: getattr(e, sort_by, 0) or 0, reverse=True)[:15]
    return {
        "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.items()},
        "epoch_seconds_under_profiler": seconds,
        "steps": len(train_loader),
        "sort_by": sort_by,
        "top_ops": [{"name": e.key, "calls": e.count, "self_cpu_ms": e.self_cpu_time_total / 1000,
                     "self_device_ms": (getattr(e, "self_device_time_total", 0) or 0) / 1000} for e in top],
        "files": ["profile_trace.json.gz", "profile_table.txt"],
        "timing": "one epoch under torch.profiler, after one warm-up epoch: the profiler slows it down, "
                  "so these seconds are no timing; read the shares of the operators",
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
    not_run = "not run (--parts)"
    lines = [
        "# CIFAR-10 training speed",
        "",
        f"Device: {result['device']}; torch {result['torch']}, torchvision {result['torchvision']}; "
        f"{'QUICK CPU CHECK, not a measurement' if result['quick'] else 'full run'}; parts: "
        f"{', '.join(result.get('parts', PARTS))}.",
        f"Data: {result['data']['dataset']} from {result['data']['data_root']} (train sha256 "
        f"{result['data']['train_images_sha256_16']}…, {result['data']['train_images']} train / "
        f"{result['data']['test_images']} test images).",
        "",
        "| measurement | value |",
        "| --- | --- |",
        f"| airbench94 train seconds (median of {air.get('runs', 'no')} runs) | {_fmt(air['train_seconds'], '.2f')} "
        f"({air['status']}) |",
        f"| airbench94 accuracy (median, TTA) | {_fmt(air['accuracy'], '.4f')} |",
    ]
    if course:
        lines += [
            f"| course ResNet-9: target accuracy | {course['target_accuracy']:.4f} ({result['target_source']}) |",
            f"| course ResNet-9: seconds to target (median) | {_fmt(course['seconds_to_target'], '.2f')} |",
            f"| course ResNet-9: final accuracy (median, flip TTA) | {course['accuracy']:.4f} |",
            f"| ratio to airbench94 (target: ≤ 5) | {_fmt(result['ratio_to_airbench'], '.2f')} |",
        ]
    else:
        lines.append(f"| course ResNet-9 | {not_run} |")
    if loaders:
        lines += [f"| DataLoader, 2 workers, PIL augmentation (images/s) | {loaders['dataloader_2_workers']:,.0f} |",
                  f"| GPULoader (images/s) | {loaders['gpu_loader']:,.0f} (×{loaders['speedup']:.1f}; target ≥ 20) |"]
    else:
        lines.append(f"| input pipelines | {not_run} |")
    original = result["original_recipe_epoch_seconds"]
    lines += [f"| the original post's recipe: one epoch (s) | {_fmt(original, '.2f') if original else not_run} |", ""]
    variants = result.get("variants") or {}
    if variants:
        lines += ["## Variants of the recipe", "",
                  "| variant | changes | epochs | seconds to target (median) | final accuracy (median) | "
                  "train seconds (median) | ratio to airbench94 |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for name, v in variants.items():
            changes = ", ".join(f"{k}={x}" for k, x in v["changes"].items()) or "none (notebook 07's recipe)"
            lines.append(f"| {name} | {changes} | {v['recipe']['epochs']} | {_fmt(v['seconds_to_target'], '.2f')} | "
                         f"{v['accuracy']:.4f} | {v['train_seconds']:.2f} | {_fmt(v['ratio_to_airbench'], '.2f')} |")
        lines.append("")
    if result.get("profile"):
        prof = result["profile"]
        lines += ["## One epoch under torch.profiler", "", f"{prof['timing']}; sorted by {prof['sort_by']}.", "",
                  "| operator | calls | self CPU (ms) | self device (ms) |", "| --- | --- | --- | --- |"]
        lines += [f"| `{op['name']}` | {op['calls']} | {op['self_cpu_ms']:.1f} | {op['self_device_ms']:.1f} |"
                  for op in prof["top_ops"]]
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="every part tiny (subsets, 1 epoch): checks the script")
    parser.add_argument("--device", default=None, help="cuda, cpu, ... (default: the best available)")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help=f"where the JSON and markdown go (default {DEFAULT_OUTPUT}; --quick: a temporary folder)")
    parser.add_argument("--runs", type=int, default=3, help="training runs per method (medians are reported)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epochs of the course recipe (default {RECIPE['epochs']}; a variant's own epochs win)")
    parser.add_argument("--target", type=float, default=None,
                        help="target accuracy for the course's ResNet-9 when airbench94 is not installed or not run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated parts to run, of {','.join(PARTS)} (default: all)")
    parser.add_argument("--variants", nargs="+", default=None, metavar="VARIANT",
                        help=f"recipes to train: names ({', '.join(VARIANTS)}) or NAME:KEY=VALUE,... "
                             "(default: notebook 07's recipe alone)")
    parser.add_argument("--compile-backend", default=None,
                        help="torch.compile backend for the compiled variants (default: their own, inductor)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="write a torch.profiler trace and table of one epoch of the first variant to DIR")
    parser.add_argument("--images", type=int, nargs=2, default=None, metavar=("TRAIN", "TEST"),
                        help=f"with --quick: subset sizes (default {QUICK['train_images']} {QUICK['test_images']})")
    args = parser.parse_args(argv)
    if args.images and not args.quick:
        parser.error("--images sets the subsets of a --quick check run; a measurement uses all images")

    import importlib.util

    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        parser.error(f"--parts: unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(PARTS)}")
    try:
        variants = dict(parse_variant(spec) for spec in args.variants or ["baseline"])
    except ValueError as error:
        parser.error(f"--variants: {error}")
    has_airbench = importlib.util.find_spec("airbench") is not None
    if ("course" in parts and not args.quick and args.target is None
            and ("airbench" not in parts or not has_airbench)):
        parser.error("airbench is not installed (or --parts leaves it out), so there is no airbench94 accuracy to "
                     "race to: pip install airbench, or give the target accuracy with --target")
    device = cu.get_device(args.device)
    output = args.output_dir or (Path(tempfile.mkdtemp(prefix="cifar10_speed_")) if args.quick else DEFAULT_OUTPUT)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    recipes = {name: variant_recipe(changes, args.quick, args.compile_backend, args.epochs)
               for name, changes in variants.items()}
    runs = QUICK["runs"] if args.quick else args.runs
    first = next(iter(recipes))

    train, test, train_idx, test_idx, mean, std, data_info = load_data(args.quick, args.seed, args.images)
    if args.quick:  # at least 8 steps per epoch (a one-cycle warm-up), batch sizes scaled alike
        scale = min(1.0, len(train_idx) / 8 / max(v["batch_size"] for v in recipes.values()))
        for variant in recipes.values():
            variant["batch_size"] = max(2, int(variant["batch_size"] * scale))
    print(f"device: {device_name(device)}; data: {data_info}; parts: {', '.join(parts)}", flush=True)
    import torchvision

    result = {
        "device": device_name(device),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "quick": args.quick,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "data": data_info,
        "parts": parts,
        "target_source": None,
        "airbench94": {"status": "not run (--parts)", "train_seconds": None, "accuracy": None},
        "course_resnet": None,
        "ratio_to_airbench": None,
        "loader_images_per_s": None,
        "original_recipe_epoch_seconds": None,
        "original_recipe": None,
    }
    output.mkdir(parents=True, exist_ok=True)

    def save():  # after every part: a run stopped early keeps what it measured
        (output / "cifar10_speed.json").write_text(json.dumps(result, indent=2) + "\n")
        (output / "cifar10_speed.md").write_text(markdown(result))

    if "airbench" in parts:
        print("airbench94 ...", flush=True)
        if args.quick:  # never a full airbench94 training in a check run
            result["airbench94"] = {"status": "skipped in --quick mode" if has_airbench else "not installed",
                                    "train_seconds": None, "accuracy": None}
        else:
            result["airbench94"] = bench_airbench(train, test, device, runs)
        save()
    air = result["airbench94"]
    if air["accuracy"] is not None:
        target, result["target_source"] = air["accuracy"], "airbench94 median accuracy, this run"
    elif args.target is not None:
        target, result["target_source"] = args.target, "--target"
    else:  # --quick without --target (a full run without airbench needs --target: checked above)
        target, result["target_source"] = QUICK["target"], "quick-mode placeholder"

    recipe = recipes[first]
    if args.profile:  # first: what an epoch spends its time on guides the variants
        print(f"one epoch of variant {first} under torch.profiler ...", flush=True)
        result["profile"] = profile_epoch(train, test, train_idx, test_idx, mean, std, device, recipe, args.seed,
                                          args.profile)
        save()

    if "course" in parts:
        result["variants"] = {}
        for name, variant in recipes.items():
            print(f"course ResNet-9, variant {name} ({variants[name] or 'notebook 07 recipe'}), to {target:.4f} ...",
                  flush=True)
            course = bench_course(train, test, train_idx, test_idx, mean, std, device, variant, target, runs,
                                  args.seed, warmup=not args.quick)
            ratio = None
            if course["seconds_to_target"] is not None and air["train_seconds"]:
                ratio = course["seconds_to_target"] / air["train_seconds"]
            if variant["compile"]:
                course["dynamo_unique_graphs"] = dynamo_graphs()
            result["variants"][name] = {
                "changes": variants[name], "recipe": course["recipe"], "seconds_to_target": course["seconds_to_target"],
                "accuracy": course["accuracy"], "train_seconds": course["train_seconds"], "ratio_to_airbench": ratio,
                "course_resnet": course}
            if name == first:
                result["course_resnet"], result["ratio_to_airbench"] = course, ratio
            save()

    if "loaders" in parts:
        loader_idx = train_idx[: QUICK["loader_images"]] if args.quick else train_idx
        print("loaders ...", flush=True)
        result["loader_images_per_s"] = bench_loaders(train, loader_idx, mean, std, device, recipe["batch_size"],
                                                      args.seed)
        save()
    if "original" in parts:
        print("the original post's recipe ...", flush=True)
        original_idx = train_idx[: QUICK["original_recipe_images"]] if args.quick else train_idx
        result["original_recipe_epoch_seconds"] = bench_original_recipe(original_idx, mean, std, device, args.seed)
        result["original_recipe"] = {"model": "CIFAR ResNet-18 stand-in (11.2 M parameters)",
                                     "optimizer": "Adam lr 1e-4", "batch_size": 32,
                                     "loader": "DataLoader, 2 workers, PIL augmentation", "images": len(original_idx)}
        save()
    save()
    print(markdown(result))
    print(f"wrote {output / 'cifar10_speed.json'} and {output / 'cifar10_speed.md'}")
    return result


if __name__ == "__main__":
    main()
