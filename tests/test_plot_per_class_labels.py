"""Per-class accuracy bars carry their values, so a class at 0% shows as a label, not as a missing bar."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from course_utils import plot  # noqa: E402


def test_every_bar_is_labelled_with_its_value_including_zero():
    fig = plot.plot_per_class_accuracy([0.9, 0.0, 0.55], ["a", "b", "c"])
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["0.0%", "55.0%", "90.0%"], labels  # sorted from lowest to highest, like the bars
    assert ax.get_xlim()[1] > 1, "room to the right of a 100% bar for its label"
