"""Notebooks 04 and 05: the per-class accuracy bars carry their values, and every size knob is a parameter."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from course_utils import plot  # noqa: E402
from tools import nbkit  # noqa: E402


def test_per_class_bars_are_labelled_and_a_zero_bar_is_visible():
    fig = plot.plot_per_class_accuracy([0.9, 0.0, 0.55], ["a", "b", "c"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["0%", "55%", "90%"], texts  # bars sorted from the lowest; the 0% bar has its label


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
