"""Notebook 07 writes a GPU loader and ResNet-9 in its cells; the package keeps copies (cu.GPULoader,
cu.ResNet9) that benchmarks/cifar10_speed.py imports. The two must behave the same, checked here by
behaviour, not by shapes: the same seed gives the same batches over several epochs, and the same
weights give the same outputs. Each check has a control that must differ, so it cannot pass vacuously.

The notebook's cells run alone (``nbkit.exec_cells``) on small synthetic images: no data set needed.

benchmarks/cifar10_speed.py also repeats notebook 07's full-mode training recipe (``RECIPE``, and the calls of
``build_run``): the last tests read both sources and check that they say the same.
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import course_utils as cu
from benchmarks import cifar10_speed
from tools import nbkit
from tools.paths import NOTEBOOK_DIR

NOTEBOOK = NOTEBOOK_DIR / "07_resnet.ipynb"
MEAN, STD = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]


@pytest.fixture(scope="module")
def notebook():
    """The notebook's SimpleGPULoader, ResidualBlock and ResNet9, defined by running their cells."""
    namespace = {"__name__": "__notebook__", "torch": torch, "nn": nn, "F": F}
    return nbkit.exec_cells(NOTEBOOK, [r"^class SimpleGPULoader\b", r"^class ResidualBlock\b", r"^class ResNet9\b"],
                            namespace)


def _images(n=100, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8), rng.integers(0, 10, size=n)


def _loader(notebook, images, labels, batch_size, padding, seed, package=False):
    if package:
        return cu.GPULoader(images, labels, batch_size=batch_size, mean=MEAN, std=STD, shuffle=True,
                            crop_padding=padding, flip=True, drop_last=True, seed=seed)
    return notebook["SimpleGPULoader"](images, labels, batch_size=batch_size, mean=MEAN, std=STD, padding=padding,
                                       seed=seed)


@pytest.mark.parametrize(("batch_size", "padding"), [(32, 4), (25, 2), (16, 0)])
def test_loader_same_batches_as_package_over_epochs(notebook, batch_size, padding):
    images, labels = _images()
    ours = _loader(notebook, images, labels, batch_size, padding, seed=3)
    package = _loader(notebook, images, labels, batch_size, padding, seed=3, package=True)
    other_seed = _loader(notebook, images, labels, batch_size, padding, seed=4, package=True)
    assert len(ours) == len(package) == len(images) // batch_size
    epochs = 4
    same = cu.check_same_batches(ours, package, control=other_seed, epochs=epochs)
    assert same.compared == epochs * len(package)
    x, y = next(iter(ours))
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    # each epoch draws new random numbers: epoch 2 is not a repeat of epoch 1
    first, second = next(iter(package))[0], next(iter(package))[0]
    assert not torch.equal(first, second)


def test_loader_check_detects_a_different_loader(notebook):
    """The control: another seed (in the notebook's loader) is not accepted as the package's batches."""
    images, labels = _images()
    ours = _loader(notebook, images, labels, 32, 4, seed=0)
    package = _loader(notebook, images, labels, 32, 4, seed=1, package=True)
    control = _loader(notebook, images, labels, 32, 4, seed=2, package=True)
    with pytest.raises(cu.NotEquivalentError, match="batch 0"):
        cu.check_same_batches(ours, package, control=control)


def test_loader_batch_is_per_image_crop_flip_normalize(notebook):
    """The whole-batch gather equals cropping, flipping and normalizing each image on its own."""
    images, labels = _images(n=8)
    p, seed = 4, 5
    batch, batch_labels = next(iter(notebook["SimpleGPULoader"](images, labels, batch_size=8, mean=MEAN, std=STD,
                                                                padding=p, seed=seed)))
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(8, generator=g)
    offsets = torch.randint(0, 2 * p + 1, (8, 2), generator=g)
    flips = torch.rand(8, generator=g) < 0.5
    padded = np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)))
    for i in range(8):
        k, (dy, dx) = order[i].item(), offsets[i].tolist()
        crop = padded[k, dy:dy + 32, dx:dx + 32]
        crop = crop[:, ::-1] if flips[i] else crop
        expected = (torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255 - torch.tensor(MEAN).view(3, 1, 1)) \
            / torch.tensor(STD).view(3, 1, 1)
        torch.testing.assert_close(batch[i], expected, rtol=0, atol=1e-6)
        assert batch_labels[i] == labels[k]


def _other_logit_scale(widths):
    return cu.ResNet9(widths=widths, logit_scale=1.0)


def _average_pooling(widths):
    model = cu.ResNet9(widths=widths)
    model.features[6] = nn.AdaptiveAvgPool2d(1)
    return model


@pytest.mark.parametrize("widths", [(8, 16, 32, 64), (16, 32, 64, 128)])
def test_resnet9_same_outputs_both_ways(notebook, widths):
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    # the notebook's weights in the package's network (load_state_dict is strict: every name and shape must match)
    same = cu.check_same_outputs(notebook["ResNet9"](widths=widths), cu.ResNet9(widths=widths), x,
                                 control=_other_logit_scale(widths), seed=0)
    assert same.compared == 6 * 10
    # and the other way round: the package's weights in the notebook's network
    cu.check_same_outputs(cu.ResNet9(widths=widths), notebook["ResNet9"](widths=widths), x,
                          control=_average_pooling(widths), seed=1)


@pytest.mark.parametrize("other", [_other_logit_scale, _average_pooling])
def test_resnet9_check_detects_a_different_network(notebook, other):
    """Controls: same parameter shapes, different behaviour (logit scale, pooling) must not pass as a copy."""
    widths = (8, 16, 32, 64)
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with pytest.raises(cu.NotEquivalentError, match="computes something else"):
        cu.check_same_outputs(notebook["ResNet9"](widths=widths), other(widths), x, control=other(widths))


# -- the benchmark's copy of the recipe ------------------------------------------------------------------------

UNKNOWN = object()  # a value these tests do not work out (a variable of the running code)
# RECIPE's entries that are knobs of notebook 07's parameters cell (full-mode values where a knob has one per mode)
RECIPE_KNOBS = {"widths": "WIDTHS", "batch_size": "BATCH_SIZE", "epochs": "EPOCHS", "peak_lr": "PEAK_LR",
                "momentum": "MOMENTUM", "weight_decay": "WEIGHT_DECAY", "label_smoothing": "LABEL_SMOOTHING",
                "crop_padding": "CROP_PADDING"}
# The calls that make the recipe, compared keyword by keyword (GPULoader.from_dataset: the shuffled, training one)
RECIPE_CALLS = ("from_dataset", "ResNet9", "SGD", "OneCycleLR", "CrossEntropyLoss")
BENCHMARK = Path(cifar10_speed.__file__)


def _value(node, env: dict):
    """The value of a keyword argument: a literal, a name of ``env``, ``recipe["key"]``; else UNKNOWN."""
    if isinstance(node, ast.Name):
        return env.get(node.id, UNKNOWN)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and isinstance(node.slice, ast.Constant):
        container = env.get(node.value.id)
        return container.get(node.slice.value, UNKNOWN) if isinstance(container, dict) else UNKNOWN
    try:
        return ast.literal_eval(node)
    except ValueError:
        return UNKNOWN


def _calls(tree, env: dict) -> dict[str, dict]:
    """``{call: {keyword: value}}`` of the :data:`RECIPE_CALLS` in ``tree``."""
    found = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        keywords = {k.arg: _value(k.value, env) for k in node.keywords if k.arg}
        if name in RECIPE_CALLS and (name != "from_dataset" or keywords.get("shuffle") is True):
            found[name] = keywords
    return found


def _sequence(value):
    return tuple(value) if isinstance(value, list | tuple) else value


def recipe_differences(nb, recipe: dict, benchmark_source: str) -> list[str]:
    """Where ``recipe`` (cifar10_speed.RECIPE) and the training code of ``benchmark_source`` (its ``build_run``)
    differ from notebook ``nb``'s full-mode parameters and training cell."""
    parameters = {name: _value(ast.parse(text, mode="eval").body, {}) for name, text in nbkit.parameters(nb).items()}
    env = {**parameters, **{name: table["full"] for name, table in nbkit.mode_knobs(nb).items()}}
    problems = [f"RECIPE[{key!r}] = {recipe[key]!r}, notebook 07's {name} (full mode) = {env[name]!r}"
                for key, name in RECIPE_KNOBS.items() if _sequence(recipe[key]) != _sequence(env[name])]
    training = ast.parse(nbkit.source(nbkit.find_cell(nb, r"^history = cu\.fit\(model, train_loader")))
    build_run = next(node for node in ast.walk(ast.parse(benchmark_source))
                     if isinstance(node, ast.FunctionDef) and node.name == "build_run")
    ours, theirs = _calls(training, env), _calls(build_run, {"recipe": recipe})
    for call in RECIPE_CALLS:
        if call not in ours or call not in theirs:
            problems.append(f"{call}(...) is called in {'the benchmark' if call in theirs else 'the notebook'} only")
            continue
        for keyword in sorted(ours[call].keys() | theirs[call].keys()):
            a, b = ours[call].get(keyword, "not given"), theirs[call].get(keyword, "not given")
            if UNKNOWN not in (a, b) and _sequence(a) != _sequence(b):
                problems.append(f"{call}({keyword}=...): notebook 07 {a!r}, benchmarks/cifar10_speed.py {b!r}")
    return problems


def test_benchmark_recipe_is_notebook_07s_full_mode_recipe():
    problems = recipe_differences(nbkit.read(NOTEBOOK), cifar10_speed.RECIPE, BENCHMARK.read_text())
    assert not problems, (
        "benchmarks/cifar10_speed.py must measure notebook 07's full-mode recipe, but they differ:\n  "
        + "\n  ".join(problems) + "\nChange RECIPE (or build_run) in benchmarks/cifar10_speed.py to what the notebook "
        "does, or the notebook's parameters cell and training cell to the benchmark's values, so both say the same.")


def test_the_recipe_check_finds_a_difference():
    nb, source = nbkit.read(NOTEBOOK), BENCHMARK.read_text()
    [problem] = recipe_differences(nb, dict(cifar10_speed.RECIPE, epochs=13), source)
    assert "RECIPE['epochs'] = 13" in problem and "EPOCHS (full mode) = 12" in problem
    [problem] = recipe_differences(nb, dict(cifar10_speed.RECIPE, pct_start=0.3), source)
    assert problem == "OneCycleLR(pct_start=...): notebook 07 0.25, benchmarks/cifar10_speed.py 0.3"
    [problem] = recipe_differences(nb, cifar10_speed.RECIPE, source.replace("nesterov=True)", "nesterov=False)", 1))
    assert problem.startswith("SGD(nesterov=...)")
    assert len(recipe_differences(nb, cifar10_speed.RECIPE, source.replace('anneal_strategy="linear", ', ""))) == 1
