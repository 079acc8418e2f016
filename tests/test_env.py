import random

import numpy as np
import pytest
import torch

from course_utils import env


def test_get_device_falls_back_to_cpu_without_accelerators(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(env, "_mps_available", lambda: False)
    assert env.get_device() == torch.device("cpu")


def test_get_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(env, "_mps_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert env.get_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert env.get_device().type == "mps"


def test_get_device_override_and_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert env.get_device("cpu").type == "cpu"
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert env.get_device().type == "cpu"
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        env.get_device("cuda")


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    g1 = env.seed_everything(123)
    a = draw() + (torch.rand(1, generator=g1).item(),)
    g2 = env.seed_everything(123)
    b = draw() + (torch.rand(1, generator=g2).item(),)
    assert a == b
    env.seed_everything(124)
    assert draw() != a[:3]


def test_seed_everything_rejects_bad_seed():
    with pytest.raises(ValueError, match="non-negative integer"):
        env.seed_everything(-1)


@pytest.mark.parametrize(
    "requested, environ, cuda, expected",
    [
        (None, None, False, "fast"),
        (None, None, True, "full"),
        (None, "smoke", True, "smoke"),
        ("full", "smoke", False, "full"),
        ("FAST", None, False, "fast"),
    ],
)
def test_resolve_run_mode(monkeypatch, requested, environ, cuda, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    if environ is None:
        monkeypatch.delenv("COURSE_RUN_MODE", raising=False)
    else:
        monkeypatch.setenv("COURSE_RUN_MODE", environ)
    assert env.resolve_run_mode(requested) == expected


def test_resolve_run_mode_rejects_unknown(monkeypatch):
    with pytest.raises(ValueError, match="smoke"):
        env.resolve_run_mode("quick")
    monkeypatch.setenv("COURSE_RUN_MODE", "turbo")
    with pytest.raises(ValueError, match="turbo"):
        env.resolve_run_mode()


@pytest.mark.parametrize(
    "variable, expected",
    [("COLAB_RELEASE_TAG", "colab"), ("KAGGLE_KERNEL_RUN_TYPE", "kaggle"), ("BINDER_SERVICE_HOST", "binder")],
)
def test_detect_platform(monkeypatch, variable, expected):
    for name in ("COLAB_RELEASE_TAG", "KAGGLE_KERNEL_RUN_TYPE", "KAGGLE_URL_BASE", "BINDER_SERVICE_HOST",
                 "BINDER_REPO_URL"):
        monkeypatch.delenv(name, raising=False)
    assert env.detect_platform() == "local"
    monkeypatch.setenv(variable, "1")
    assert env.detect_platform() == expected


def test_environment_report_has_versions_and_device(capsys):
    report = env.environment_report()
    assert report["torch"] == torch.__version__
    assert report["cpu_count"] >= 1
    assert report["ram_gb"] > 0
    assert report["platform"] in ("colab", "kaggle", "binder", "local")
    printed = capsys.readouterr().out
    assert "torchvision" in printed and report["device"] in printed
