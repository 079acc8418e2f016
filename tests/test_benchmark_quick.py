"""benchmarks/cifar10_speed.py --quick runs end to end on the CPU (tiny subsets) and writes every key.

Only the structure is checked: CPU numbers from a tiny run mean nothing. Real results come from a GPU run.
"""
import importlib.util
import json
from pathlib import Path

import pytest

import course_utils as cu

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "cifar10_speed.py"


def test_quick_benchmark_writes_all_keys(tmp_path, monkeypatch):
    try:
        cu.load_cifar10(train=False, download=False)
    except cu.DatasetNotAvailableError as error:
        pytest.skip(f"CIFAR-10 not available: {error}")
    spec = importlib.util.spec_from_file_location("cifar10_speed", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setitem(bench.QUICK, "train_images", 160)  # even tinier than --quick: seconds, not minutes
    monkeypatch.setitem(bench.QUICK, "test_images", 100)
    monkeypatch.setitem(bench.QUICK, "loader_images", 64)
    monkeypatch.setitem(bench.QUICK, "seed_images", 32)
    monkeypatch.setitem(bench.QUICK, "batch_size", 16)
    bench.main(["--quick", "--device", "cpu", "--output-dir", str(tmp_path)])
    result = json.loads((tmp_path / "cifar10_speed.json").read_text())
    for key in ("device", "torch", "data", "airbench94", "course_resnet", "ratio_to_airbench",
                "loader_images_per_s", "seed_recipe_epoch_seconds"):
        assert key in result
    assert {"train_seconds", "accuracy", "status"} <= set(result["airbench94"])
    assert {"seconds_to_target", "accuracy", "target_accuracy"} <= set(result["course_resnet"])
    assert {"dataloader_2_workers", "gpu_loader"} <= set(result["loader_images_per_s"])
    assert result["quick"] is True
    assert "CIFAR-10 training speed" in (tmp_path / "cifar10_speed.md").read_text()
