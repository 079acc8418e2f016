"""The GPU targets: what full mode on one GPU should reach, where each target comes from, and whether the
recorded GPU runs met it (README's "Full mode on a GPU: targets", rendered by ``python -m tools.sync_notebooks``).

A missed target stays in the table as missed until a run meets it; never lower a target to make it pass.
Each target's ``measure`` reads the full-mode records (``notebook_resources_full.json``) and
``cifar10_speed.json``; what was tried for a missed target is in benchmarks/README.md.
"""
from __future__ import annotations

import json
from pathlib import Path

from benchmarks.records import measurements
from tools.paths import REPO
from tools.runtimes import hardware_name


# Each target's ``measure`` gets (full-mode results by notebook stem, cifar10_speed.json or {}) and returns
# (measured text or None, met: bool or None).
def _full(results: dict, stem: str, key: str):
    entry = results.get(stem) or {}
    return (entry.get("results") or {}).get(key) if entry.get("status") == "ok" else None


def _at_least(stem: str, key: str, target: float, label: str):
    def measure(results, speed):
        value = _full(results, stem, key)
        return (None, None) if value is None else (f"{label} {value:.2%}", value >= target)
    return measure


def _best_at_least(stem: str, keys: dict[str, str], target: float):
    def measure(results, speed):
        values = {label: _full(results, stem, key) for label, key in keys.items()}
        if any(v is None for v in values.values()):
            return None, None
        best = max(values, key=values.get)
        return f"best: {best} test {values[best]:.2%}", values[best] >= target
    return measure


def _seconds_at_most(stem: str, limit: float):
    def measure(results, speed):
        entry = results.get(stem) or {}
        if entry.get("status") != "ok":
            return None, None
        return f"whole notebook {entry['seconds']:.0f} s", entry["seconds"] <= limit
    return measure


def _pseudo_above_labels_only(results, speed):
    labels, pseudo = (_full(results, "09_semi_supervised_sampler", k)
                      for k in ("labels_only_test_accuracy", "pseudo_label_test_accuracy"))
    if labels is None or pseudo is None:
        return None, None
    return f"labels only {labels:.2%}, pseudo-labeling {pseudo:.2%}", labels >= 0.8726 and pseudo > labels


def _ratio_to_airbench(results, speed):
    course, air = speed.get("course_resnet") or {}, speed.get("airbench94") or {}
    if not course or air.get("accuracy") is None:
        return None, None
    if speed.get("ratio_to_airbench") is None:
        return (f"never reached airbench94's {air['accuracy']:.2%} in {course['recipe']['epochs']} epochs "
                f"(final {course['accuracy']:.2%} after {course['train_seconds']:.1f} s; airbench94 "
                f"{air['train_seconds']:.2f} s)", False)
    return f"{speed['ratio_to_airbench']:.2f}×", speed["ratio_to_airbench"] <= 5


def _loader_speedup(results, speed):
    loaders = speed.get("loader_images_per_s") or {}
    if not loaders.get("speedup"):
        return None, None
    return (f"{loaders['speedup']:.1f}× ({loaders['gpu_loader']:,.0f} vs {loaders['dataloader_2_workers']:,.0f} "
            "images/s)", loaders["speedup"] >= 20)


GPU_TARGETS = (
    ("03 · LeNet test accuracy ≥ 55%", "the PyTorch CIFAR-10 tutorial's result",
     _at_least("03_first_cnn", "relu_test_accuracy", 0.55, "test")),
    ("04 · CIFAR-100 test accuracy ≥ 58.5%", "the original post",
     _best_at_least("04_cnn_batchnorm_cifar100", {"design A": "design_a_test_accuracy",
                                                   "design B": "design_b_test_accuracy"}, 0.585)),
    ("04 · whole notebook ≤ 10 min", "course target", _seconds_at_most("04_cnn_batchnorm_cifar100", 600)),
    ("07 · whole notebook ≤ 2 min", "course target", _seconds_at_most("07_resnet", 120)),
    ("07 · ResNet-9 reaches airbench94's accuracy in ≤ 5× its training time (stretch ≤ 3×)",
     "airbench94 on the same data and GPU (benchmarks/cifar10_speed.py)", _ratio_to_airbench),
    ("07 · `GPULoader` ≥ 20× the 2-worker `DataLoader`", "course target (benchmarks/cifar10_speed.py)",
     _loader_speedup),
    ("08 · CNN test accuracy ≥ 91.89% (validation split)", "the original post",
     _at_least("08_dataset_sampler_internals", "cnn_test_accuracy", 0.9189, "CNN test")),
    ("09 · labels only ≥ 87.26%, pseudo-labeling above it", "the original post", _pseudo_above_labels_only),
)


def table(root: Path = REPO) -> str:
    """README's ``gpu-targets`` block: each target, what the records measured, met or missed."""
    results_dir = root / "benchmarks" / "results"
    results = measurements("full", results_dir).get("notebooks") or {}
    speed_file = results_dir / "cifar10_speed.json"
    speed = json.loads(speed_file.read_text()) if speed_file.is_file() else {}
    if speed.get("quick"):  # a --quick check run is never a measurement
        speed = {}
    rows = ["| target | source of the target | measured (full mode) | status |", "| --- | --- | --- | --- |"]
    for target, source, measure in GPU_TARGETS:
        text, met = measure(results, speed)
        status = "not measured yet" if met is None else ("met" if met else "**missed**")
        rows.append(f"| {target} | {source} | {text or '–'} | {status} |")
    machines = sorted({hardware_name(e) for e in results.values() if e.get("status") == "ok"}
                      | ({speed["device"]} if speed.get("device") else set()))
    note = (f"Measured on {', '.join(machines)} (benchmarks/results/notebook_resources_full.json, "
            "benchmarks/results/cifar10_speed.json; what was tried for missed targets: benchmarks/README.md)."
            if machines else "No GPU run recorded yet.")
    return "\n".join(rows) + "\n\n" + note
