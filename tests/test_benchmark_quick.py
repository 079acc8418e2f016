"""benchmarks/cifar10_speed.py --quick runs end to end on the CPU (tiny subsets) and writes every key.

Only the structure is checked: CPU numbers from a tiny run mean nothing. Real results come from a GPU run.
"""
import json

import pytest

import course_utils as cu
from benchmarks import cifar10_speed as bench


def test_quick_benchmark_writes_all_keys(tmp_path, monkeypatch):
    try:
        cu.load_cifar10(train=False, download=False)
    except cu.DatasetNotAvailableError as error:
        pytest.skip(f"CIFAR-10 not available: {error}")
    monkeypatch.setitem(bench.QUICK, "train_images", 160)  # even tinier than --quick: seconds, not minutes
    monkeypatch.setitem(bench.QUICK, "test_images", 100)
    monkeypatch.setitem(bench.QUICK, "loader_images", 64)
    monkeypatch.setitem(bench.QUICK, "original_recipe_images", 32)
    monkeypatch.setitem(bench.QUICK, "batch_size", 16)
    bench.main(["--quick", "--device", "cpu", "--output-dir", str(tmp_path)])
    result = json.loads((tmp_path / "cifar10_speed.json").read_text())
    for key in ("device", "torch", "data", "airbench94", "course_resnet", "ratio_to_airbench",
                "loader_images_per_s", "original_recipe_epoch_seconds"):
        assert key in result
    assert {"train_seconds", "accuracy", "status"} <= set(result["airbench94"])
    assert {"seconds_to_target", "accuracy", "target_accuracy"} <= set(result["course_resnet"])
    assert {"dataloader_2_workers", "gpu_loader"} <= set(result["loader_images_per_s"])
    assert result["quick"] is True
    assert "CIFAR-10 training speed" in (tmp_path / "cifar10_speed.md").read_text()


def test_full_run_without_airbench_needs_a_target(monkeypatch, capsys):
    """A full run never assumes an airbench94 accuracy it did not measure: without airbench, --target is required."""
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "airbench" else real_find_spec(name, *a, **k))
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--device", "cpu"])
    assert exit_info.value.code == 2
    assert "--target" in capsys.readouterr().err
