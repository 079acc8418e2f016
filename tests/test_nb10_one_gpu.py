"""Notebook 10 on a machine with exactly one GPU: too few for DDP on GPUs, so its DDP lessons run with 2 processes
on the CPU, and section 9 adds the same job as 1 process on that GPU, labelled "1 process, 1 GPU".

CI has no GPU, so this branch would otherwise first run in a short GPU window. Here the notebook's own cells run
(parameters, set-up, the launcher's helpers, section 9's speed cells) with torchrun replaced by a fake that writes
the results a run would write, and a machine that reports one GPU. The real launches are tested in test_ddp.py
and by the notebook's smoke run.
"""
from __future__ import annotations

import json

import matplotlib
import torch

from tools import nbkit
from tools.paths import NOTEBOOK_DIR

matplotlib.use("Agg")
NOTEBOOK = NOTEBOOK_DIR / "10_distributed_data_parallel.ipynb"
GPU_SPEED, CPU_SPEED = 40_000.0, 3_000.0  # images per second the fake runs report


def fake_launch(launched: list):
    def launch(processes, *script_args, timeout=None):
        options = dict(zip(script_args[::2], script_args[1::2], strict=True))
        on_gpu = options.get("--device") == "cuda"
        launched.append((processes, on_gpu))
        speed = GPU_SPEED if on_gpu else CPU_SPEED * (1 + 0.01 * len(launched))
        batch = options["--global-batch"]
        result = {"images_per_s": speed, "global_batch": batch, "per_rank_batch": batch // processes,
                  "test_accuracy": 0.8, "step_seconds": {"step": 0.02, "compute": 0.018, "all_reduce": 0.001}}
        with open(options["--out"], "w") as handle:
            json.dump(result, handle)
        return 0, "fake torchrun"
    return launch


def run_speed_section(gpus: int, tmp_path, monkeypatch) -> tuple[dict, list, list]:
    """Section 9 of notebook 10 on a machine that reports ``gpus`` GPUs; (namespace, launches, displayed)."""
    monkeypatch.chdir(tmp_path)  # the set-up cell creates its output folder in the working directory
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "Fake GPU")
    namespace = nbkit.exec_cells(NOTEBOOK, [r"^RUN_MODE = None", r"^settings = cu\.RunSettings\("])
    assert namespace["GPUS"] == gpus
    assert namespace["DEVICE"] == ("cuda" if gpus >= 2 else "cpu"), "with fewer than 2 GPUs, DDP uses the CPU"
    launcher = nbkit.source(nbkit.find_cell(nbkit.read(NOTEBOOK), r"^SCRIPT = Path"))
    exec(launcher.split("\ncode, output = launch(")[0], namespace)  # the helpers, without the first launch
    launched, displayed = [], []
    namespace.update(launch=fake_launch(launched), display=displayed.append, run={"parameters": 20_586})
    namespace["plt"].show = lambda *_: None
    nbkit.exec_cells(NOTEBOOK, [r"^CORES = len\(os\.sched_getaffinity", r"^measures = \{"], namespace)
    return namespace, launched, displayed


def test_one_gpu_adds_the_same_job_on_the_gpu_to_the_speed_comparison(tmp_path, monkeypatch):
    ns, launched, displayed = run_speed_section(1, tmp_path, monkeypatch)
    repeats = ns["SPEED_REPEATS"]
    assert launched.count((1, True)) == repeats, "the GPU job: 1 process with --device cuda, SPEED_REPEATS times"
    assert all(not on_gpu for processes, on_gpu in launched if processes > 1), "DDP itself stays on the CPU"
    assert ns["speed_runs"]["1 process, 1 GPU"] and "Fake GPU" in ns["hardware"]
    text = "\n".join(item.data for item in displayed if hasattr(item, "data") and isinstance(item.data, str))
    other = ns["label"](1, ns["CORES"])
    assert f"And one GPU against all the CPU cores: 1 process, 1 GPU is ahead of {other}" in text


def test_without_a_gpu_the_speed_comparison_has_no_gpu_run(tmp_path, monkeypatch):
    ns, launched, displayed = run_speed_section(0, tmp_path, monkeypatch)
    assert launched and not any(on_gpu for _, on_gpu in launched)
    assert "1 process, 1 GPU" not in ns["speed_runs"]
    assert not any("one GPU" in str(getattr(item, "data", "")) for item in displayed)


def test_two_gpus_run_ddp_on_the_gpus_instead(tmp_path, monkeypatch):
    """The control: with 2 GPUs DDP runs on them, and section 9 compares 1 GPU with 2 (no CPU runs)."""
    ns, launched, _ = run_speed_section(2, tmp_path, monkeypatch)
    assert ns["PROCESSES"] == 2 and set(launched) == {(1, True), (2, True)}
    assert list(ns["speed_runs"]) == ["1 GPU", "2 GPUs"]
