import io
import json

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from course_utils import plot, results, widgets  # noqa: E402


def test_unnormalize_inverts_normalize():
    from torchvision.transforms import v2

    images = torch.rand(2, 3, 4, 4)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    torch.testing.assert_close(plot.unnormalize(v2.Normalize(mean, std)(images), mean, std), images)


def test_show_images_titles_with_class_names():
    images = torch.rand(5, 3, 8, 8)
    fig = plot.show_images(images, labels=[0, 1, 2, 0, 1], class_names=["cat", "dog", "frog"], ncols=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["cat", "dog", "frog", "cat", "dog"]
    assert len(fig.axes) == 6  # 2 rows x 3 columns, the last one blank


def test_show_images_marks_wrong_predictions():
    fig = plot.show_images(torch.rand(2, 1, 8, 8), labels=[0, 1], preds=[0, 0], class_names=["a", "b"])
    colors = [ax.title.get_color() for ax in fig.axes]
    assert colors == ["green", "red"]


def test_show_images_uint8_array_and_normalized_without_stats():
    plot.show_images(np.zeros((3, 8, 8, 3), dtype=np.uint8))
    normalized = torch.randn(2, 3, 8, 8) * 3
    with pytest.raises(ValueError, match="mean and std"):
        plot.show_images(normalized)
    plot.show_images(normalized, mean=(0.5,) * 3, std=(0.2,) * 3)


def test_plot_history_and_comparisons():
    h = {"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7],
         "train_accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.6]}
    fig = plot.plot_history(h, title="run")
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
    assert fig.axes[0].get_xlabel() == "epoch"
    fig = plot.plot_history(None, histories={"relu": h, "tanh": h})
    assert len(fig.axes[1].get_lines()) == 4


def test_plot_history_ticks_whole_epochs_even_for_one_epoch():
    one = {"epoch": [1], "train_loss": [1.0], "val_loss": [1.1], "train_accuracy": [0.5], "val_accuracy": [0.4]}
    fig = plot.plot_history(one)
    assert list(fig.axes[0].get_xticks()) == [1]


def test_per_class_and_confusion():
    names = ["a", "b", "c"]
    fig = plot.plot_per_class_accuracy([0.9, 0.5, 0.7], names)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["b", "c", "a"]
    fig = plot.plot_confusion_matrix([0, 1, 2, 2], [0, 1, 1, 2], names)
    assert "Confusion" in fig.axes[0].get_title()


def test_show_results_rejects_nan_and_returns_plain_values(capsys):
    out = results.show_results({"accuracy": torch.tensor(0.5), "name": "relu"})
    assert out == {"accuracy": 0.5, "name": "relu"}
    assert json.loads(json.dumps(out)) == out
    with pytest.raises(ValueError, match="nan"):
        results.show_results({"loss": float("nan")})


def test_augmentation_figure_varies_per_image_and_static_fallback():
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    fig = widgets.augmentation_figure(images, padding=8, flip_p=0.5, labels=[0, 1, 2, 3],
                                      class_names=["a", "b", "c", "d"])
    assert len(fig.axes) == 4 and "RandomCrop(padding=8)" in fig._suptitle.get_text()
    assert not widgets._has_frontend()  # plain pytest: no Jupyter kernel
    fig = widgets.augmentation_explorer(images, mean=(0.5,) * 3, std=(0.2,) * 3)
    assert fig.axes  # a static figure instead of a widget


def test_a_widget_display_carries_a_static_picture_for_viewers_without_widgets():
    import ipywidgets
    from PIL import Image

    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    slider = ipywidgets.IntSlider(value=3)
    bundle = widgets.with_static_fallback(slider, widgets.augmentation_figure(images))
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == slider.model_id
    picture = Image.open(io.BytesIO(bundle["image/png"]))
    assert picture.width > 200 and picture.height > 50
    assert "IntSlider" in bundle["text/plain"]
