"""Bad inputs to the figures and the results table: clear errors before any figure is drawn.

Each error is raised before matplotlib creates a figure (none is left open), and the same call with
valid arguments still draws what it drew before.
"""
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import course_utils as cu  # noqa: E402
from conftest import make_blobs  # noqa: E402


@pytest.fixture(autouse=True)
def no_figure_left_open():
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "an error must come before the figure is created"


def _pixels(fig):
    return [ax.get_images()[0].get_array() for ax in fig.axes if ax.get_images()]


# -- show_images and unnormalize -------------------------------------------------------------------------

@pytest.mark.parametrize("images, mean, std, message", [
    (torch.rand(2, 4, 8, 8), [0.5] * 3, [0.2] * 3,
     r"show_images: got 4 channels in the images but 3 values in mean: pass one mean and one std per channel"),
    (torch.rand(2, 1, 8, 8), [0.49, 0.48, 0.45], [0.25] * 3, r"got 1 channel in the images but 3 values in mean"),
    (torch.rand(2, 3, 8, 8), [0.5] * 3, [0.2, 0.2], r"got 3 channels in the images but 2 values in std"),
    (torch.rand(2, 3, 8, 8), [0.5] * 3, None, r"show_images: pass both mean and std .* or neither"),
    (torch.rand(2, 3, 8, 8), [125.3, 123.0, 113.9], [63.0, 62.1, 66.7],
     r"mean and std are on the 0\.\.1 scale \(e\.g\. 0\.49, not 125\): divide values on the 0\.\.255 scale by 255"),
    (torch.rand(2, 3, 8, 8), [0.5] * 3, [0.2, 0.0, 0.2], r"std must be positive"),
])
def test_show_images_checks_mean_and_std_against_the_images(images, mean, std, message):
    with pytest.raises(ValueError, match=message):
        cu.show_images(images, mean=mean, std=std)


def test_show_images_one_mean_for_all_channels_and_normalized_numpy_images():
    images = torch.rand(2, 3, 8, 8)
    normalized = (images - 0.5) / 0.25
    one = _pixels(cu.show_images(normalized, mean=[0.5], std=[0.25]))  # as Normalize([0.5], [0.25]) broadcasts
    three = _pixels(cu.show_images(normalized, mean=[0.5] * 3, std=[0.25] * 3))
    from_numpy = _pixels(cu.show_images(normalized.permute(0, 2, 3, 1).numpy(), mean=[0.5] * 3, std=[0.25] * 3))
    for a, b, c, original in zip(one, three, from_numpy, images, strict=True):
        np.testing.assert_allclose(a, original.permute(1, 2, 0).numpy(), atol=1e-6)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    plt.close("all")


@pytest.mark.parametrize("ncols", [0, -1, 2.5])
def test_show_images_needs_a_positive_number_of_columns(ncols):
    with pytest.raises(ValueError, match=r"show_images: ncols \(images per row\) must be a whole number of at least "
                                         rf"1, got {ncols}"):
        cu.show_images(torch.rand(4, 3, 8, 8), ncols=ncols)


def test_show_images_numpy_integers_generators_and_sizes():
    images = torch.rand(4, 3, 8, 8)
    fig = cu.show_images(images, labels=(i % 2 for i in range(4)), class_names=["a", "b"], ncols=np.int64(2))
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "a", "b"]
    assert fig.axes[2].get_position().y0 < fig.axes[0].get_position().y0, "two per row"
    different = [torch.rand(3, 8, 8), torch.rand(3, 6, 10), torch.rand(1, 5, 5)]  # shown one by one, each its size
    assert [p.shape for p in _pixels(cu.show_images(different))] == [(8, 8, 3), (6, 10, 3), (5, 5)]
    plt.close("all")


@pytest.mark.parametrize("labels, class_names, error, message", [
    (["cat", "dog", "bird"], None, TypeError, r"show_images: labels must be integer class indices, got dtype <U4 "
                                              r".* Class names go in class_names=, and labels holds their indices"),
    ([0.0, 1.7, 2.0], ["a", "b", "c"], TypeError, r"labels must be integer class indices, got dtype float64 .* "
                                                  r"Convert with \.long\(\)"),
    ([0, 1, 4], ["a", "b"], ValueError, r"show_images \(one class name per class\): labels range from 0 to 4, but "
                                        r"there are 2 classes"),
])
def test_show_images_labels_and_class_names(labels, class_names, error, message):
    with pytest.raises(error, match=message):
        cu.show_images(torch.rand(3, 3, 8, 8), labels, class_names)


def test_show_images_refuses_a_dataset():
    with pytest.raises(TypeError, match=r"show_images takes a batch of images, got a TensorDataset \(a Dataset\): "
                                        r"take a batch from a DataLoader"):
        cu.show_images(make_blobs(n=8))


@pytest.mark.parametrize("images, message", [
    (torch.rand(4, 8, 8), r"unnormalize: got 4 channels in the images but 3 values in mean"),
    (torch.rand(2, 8, 8, 3), r"unnormalize \(images channels first: \(N, C, H, W\)\): got 8 channels in the images "
                             r"but 3 values in mean"),
])
def test_unnormalize_checks_the_channels(images, message):
    with pytest.raises(ValueError, match=message):
        cu.unnormalize(images, [0.5] * 3, [0.2] * 3)


# -- learning curves and per-class bars ------------------------------------------------------------------

HISTORY = {"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "train_accuracy": [0.5, 0.7],
           "val_accuracy": [0.4, 0.6]}


@pytest.mark.parametrize("args, kwargs, error, message", [
    (([HISTORY, HISTORY],), {}, ValueError, r"plot_history: the history \(a list\) lacks \['epoch', .*\]\. Pass the "
                                            r"History that cu\.fit returns.* histories=\{'name': history, \.\.\.\}"),
    (({"epoch": [1, 2], "loss": [1.0, 0.5]},), {}, ValueError,
     r"the history \(a dict\) lacks \['train_loss', 'val_loss', 'train_accuracy', 'val_accuracy'\]"),
    ((None,), {}, ValueError, r"the history \(a NoneType\) lacks"),
    ((None,), {"histories": [HISTORY]}, TypeError, r"plot_history: histories must be a dict \{name: history\}"),
    ((None,), {"histories": {"relu": HISTORY, "tanh": {"epoch": [1]}}}, ValueError, r"the history 'tanh' lacks"),
])
def test_plot_history_says_what_a_history_is(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        cu.plot_history(*args, **kwargs)


def test_plot_history_takes_a_data_frame():
    pandas = pytest.importorskip("pandas")
    fig = cu.plot_history(pandas.DataFrame(HISTORY))
    assert [list(line.get_ydata()) for line in fig.axes[0].get_lines()] == [[1.0, 0.5], [1.1, 0.7]]
    plt.close("all")


def test_per_class_accuracy_bars_want_fractions():
    with pytest.raises(ValueError, match=r"plot_per_class_accuracy: accuracies are fractions between 0 and 1, got "
                                         r"50; divide percentages by 100"):
        cu.plot_per_class_accuracy([50.0, 75.0], ["a", "b"])


# -- the results table ---------------------------------------------------------------------------------

@pytest.mark.parametrize("results, error, message", [
    ({"per class": np.array([0.5, 0.6])}, ValueError,
     r"show_results: result 'per class' is an array of shape \(2,\), not one number\. Give one number per result"),
    ({"per class": torch.tensor([[0.5, 0.6]])}, ValueError, r"result 'per class' is an array of shape \(1, 2\)"),
    ({"folder": Path("runs")}, TypeError, r"show_results: result 'folder' is a PosixPath; give a number or a short "
                                          r"text, e.g\. str\(value\)"),
    (0.71, TypeError, r"show_results takes a dict \{name: value\}, e.g\. \{'test accuracy': 0\.71\}; got a float"),
])
def test_show_results_wants_one_number_per_result(capsys, results, error, message):
    with pytest.raises(error, match=message):
        cu.show_results(results)
    assert capsys.readouterr().out == "", "nothing is shown"


def test_show_results_one_element_arrays_and_numpy_numbers():
    out = cu.show_results({"a": np.array([0.25]), "b": torch.tensor([[3]]), "c": np.int64(4), "d": [1, 2]})
    assert out == {"a": 0.25, "b": 3, "c": 4, "d": [1, 2]} and type(out["c"]) is int
