"""Notebooks 04 and 05: every size knob is a parameter that defaults to the run mode and decides FULL_SIZE."""
from __future__ import annotations

import pytest

from tools import nbkit


@pytest.mark.parametrize("name, knobs", [
    ("04_cnn_batchnorm_cifar100", ("EPOCHS", "ABLATION_EPOCHS", "TRAIN_IMAGES", "EVAL_IMAGES", "TEST_IMAGES",
                                   "WIDTH", "BATCH_SIZE")),
    ("05_vgg", ("EPOCHS", "TRAIN_IMAGES", "EVAL_IMAGES", "TEST_IMAGES", "BATCH_SIZE")),
])
def test_size_knobs_default_to_the_run_mode_and_decide_full_size(name, knobs):
    nb = nbkit.read(nbkit.NOTEBOOK_DIR / f"{name}.ipynb")
    params = nbkit.parameters(nb)
    for knob in knobs:
        assert params.get(knob) == "None", f"{name}: {knob} should be a parameter defaulting to None"
    full_size = nbkit.find_cell(nb, r"^FULL_SIZE = ")
    line = next(s for s in nbkit.source(full_size).splitlines() if s.startswith("FULL_SIZE = "))
    for knob in knobs:
        assert knob in line, f"{name}: FULL_SIZE should depend on {knob}"
