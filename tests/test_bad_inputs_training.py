"""Bad inputs to training, evaluation and checkpoints: each gets a clear error, and nothing is lost.

Every test pins the message a user sees and checks that the model (weights and BatchNorm
statistics), the optimizer and the files on disk are as they were. CUDA-only paths are run on the
CPU through the same code (see the label tests below).
"""
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import course_utils as cu
from conftest import TinyNet, make_blobs
from course_utils import checks


def _sgd(model, lr=0.1):
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _unchanged(model, snapshot):
    return all(torch.equal(v, snapshot[k]) for k, v in model.state_dict().items())


def _bn_net(num_classes=4):
    """A small CNN with BatchNorm, whose running statistics change on any training forward pass."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, num_classes))


class CountingLoader:
    """A loader that counts how often it is iterated (0 = no work was done)."""

    def __init__(self, loader):
        self.loader, self.iterations = loader, 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.iterations += 1
        return iter(self.loader)


# -- checkpoints ---------------------------------------------------------------------------------------

def test_numpy_numbers_in_extras_are_saved_as_plain_python(tmp_path):
    model = TinyNet()
    path = cu.save_checkpoint(tmp_path / "best.pt", model, epoch=np.int64(3), val_loss=np.float32(0.25),
                              ok=np.bool_(True), history={"acc": [np.float64(0.5)]}, counts=np.array([1, 2]))
    checkpoint = cu.load_checkpoint(path, TinyNet())
    assert checkpoint["epoch"] == 3 and type(checkpoint["epoch"]) is int
    assert checkpoint["val_loss"] == 0.25 and type(checkpoint["val_loss"]) is float
    assert checkpoint["ok"] is True and type(checkpoint["history"]["acc"][0]) is float
    assert torch.equal(checkpoint["counts"], torch.tensor([1, 2]))


def test_unsupported_extra_is_refused_before_writing(tmp_path):
    path = cu.save_checkpoint(tmp_path / "best.pt", TinyNet(), epoch=1)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=r"save_checkpoint: data_dir= is a PosixPath; a checkpoint holds numbers"):
        cu.save_checkpoint(path, TinyNet(), data_dir=tmp_path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["best.pt"]
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        cu.save_checkpoint(tmp_path / "other.pt", TinyNet().state_dict())
    with pytest.raises(IsADirectoryError, match="is a folder; give a file name"):
        cu.save_checkpoint(tmp_path, TinyNet())
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]


def test_file_with_python_objects_is_not_called_corrupt(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"model": TinyNet().state_dict(), "val_loss": np.float64(0.5)}, path)  # as an older version saved
    before, model = path.read_bytes(), TinyNet()
    snapshot = _snapshot(model)
    with pytest.raises(cu.CheckpointError) as info:
        cu.load_checkpoint(path, model)
    message = str(info.value)
    assert "holds a Python object (numpy" in message and "not corrupt" in message and "corrupt:" not in message
    assert "weights_only=False" in message
    assert path.read_bytes() == before and _unchanged(model, snapshot)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_map_location_cuda_without_a_gpu_is_not_called_corrupt(tmp_path):
    path = cu.save_checkpoint(tmp_path / "best.pt", TinyNet())
    model = TinyNet()
    snapshot = _snapshot(model)
    with pytest.raises(cu.CheckpointError, match=r"map_location='cuda', but PyTorch sees no CUDA GPU\. Load with "
                                                 r"map_location='cpu'"):
        cu.load_checkpoint(path, model, map_location="cuda")
    assert _unchanged(model, snapshot)


def test_checkpoint_saved_on_a_gpu_gets_map_location_hint(tmp_path, monkeypatch):
    """Stand-in for a file with CUDA tensors read without map_location: torch.load's own error, replayed."""
    path = cu.save_checkpoint(tmp_path / "best.pt", TinyNet())

    def load_on_cpu_only_machine(*args, **kwargs):
        raise RuntimeError("Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is False.")

    monkeypatch.setattr(torch, "load", load_on_cpu_only_machine)
    with pytest.raises(cu.CheckpointError, match="was saved on a GPU and this machine has none: load it with "
                                                 "map_location='cpu'"):
        cu.load_checkpoint(path, TinyNet(), map_location=None)


def test_checkpoint_that_does_not_fit_leaves_the_model_unchanged(tmp_path):
    path = cu.save_checkpoint(tmp_path / "best.pt", TinyNet(num_classes=4))
    model = TinyNet(num_classes=5)  # its first layer has the same shape as the file's: it must not be copied
    snapshot = _snapshot(model)
    with pytest.raises(cu.CheckpointError) as info:
        cu.load_checkpoint(path, model)
    message = str(info.value)
    assert "does not fit this model" in message and "the model was left unchanged" in message
    assert "net.3.weight: shape (4, 32) in the file, (5, 32) in the model" in message
    assert _unchanged(model, snapshot)

    other = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 32))
    with pytest.raises(cu.CheckpointError, match=r"(?s)missing from the file: 1\.weight.*not in this model: "
                                                 r"net\.1\.weight"):
        cu.load_checkpoint(path, other)


def test_bare_state_dict_and_folder_get_their_own_messages(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(TinyNet().state_dict(), path)
    with pytest.raises(cu.CheckpointError, match=r"looks like a bare state_dict: load it with model.load_state_dict"):
        cu.load_checkpoint(path, TinyNet())
    with pytest.raises(cu.CheckpointError, match="is a folder, not a checkpoint file"):
        cu.load_checkpoint(tmp_path)
    with pytest.raises(TypeError, match="load_checkpoint: model must be an nn.Module, got OrderedDict"):
        cu.load_checkpoint(path, TinyNet().state_dict())


# -- fit: errors before the first epoch ----------------------------------------------------------------

@pytest.mark.parametrize("change, error, message", [
    (dict(optimizer="other"), ValueError, "the optimizer holds none of this model's parameters"),
    (dict(val_loader=None), TypeError, "val_loader is None, but fit evaluates after every epoch"),
    (dict(train_loader="dataset"), TypeError, r"train_loader is a TensorDataset \(a Dataset, one sample at a time\); "
                                              r"wrap it in a DataLoader"),
    (dict(train_loader="generator"), TypeError, "train_loader is an iterator .* used up after one epoch"),
    (dict(epochs=2.5), ValueError, "epochs must be a whole number of at least 1, got 2.5"),
    (dict(epochs="3"), ValueError, "epochs must be a whole number of at least 1, got '3'"),
    (dict(epochs=0), ValueError, "epochs must be a whole number of at least 1, got 0"),
    (dict(patience=-1), ValueError, r"patience \(epochs without improvement .*\) must be a whole number"),
    (dict(monitor="accuracy"), ValueError, "monitor must be 'val_loss' or 'val_accuracy'"),
    (dict(loss_fn=nn.CrossEntropyLoss), TypeError, r"pass an instance: CrossEntropyLoss\(\)"),
    (dict(scheduler="plateau_per_batch"), ValueError, "ReduceLROnPlateau reacts to the validation loss once per epoch"),
    (dict(scheduler="plateau_max"), ValueError, r"build ReduceLROnPlateau\(\.\.\., mode='min'\)"),
    (dict(scheduler="other_optimizer"), ValueError, "the scheduler was built for another optimizer"),
    (dict(checkpoint_path="folder"), IsADirectoryError, "is a folder; give a file name"),
    (dict(device="meta"), ValueError, r"device='meta' but the model is on cpu\. Move the model first"),
])
def test_fit_refuses_bad_arguments_before_any_work(tmp_path, blobs, change, error, message):
    torch.manual_seed(0)
    model = TinyNet()
    optimizer = _sgd(model)
    train, val = CountingLoader(DataLoader(blobs, batch_size=32)), CountingLoader(DataLoader(blobs, batch_size=64))
    kwargs = dict(train_loader=train, val_loader=val, optimizer=optimizer, epochs=2, checkpoint_path=tmp_path / "b.pt")
    kwargs.update(change)
    special = {
        "other": lambda: _sgd(TinyNet()),
        "dataset": lambda: blobs,
        "generator": lambda: (batch for batch in DataLoader(blobs, batch_size=32)),
        "plateau_per_batch": lambda: torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer),
        "plateau_max": lambda: torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max"),
        "other_optimizer": lambda: torch.optim.lr_scheduler.StepLR(_sgd(TinyNet()), 1),
        "folder": lambda: tmp_path,
    }
    for key, value in kwargs.items():
        if isinstance(value, str) and value in special:
            kwargs[key] = special[value]()
    if change.get("scheduler") == "plateau_per_batch":
        kwargs["scheduler_per_batch"] = True
    snapshot = _snapshot(model)
    with pytest.raises(error, match=message):
        cu.fit(model, progress=False, **kwargs)
    assert train.iterations == val.iterations == 0, "no batch may be drawn before the arguments are checked"
    assert _unchanged(model, snapshot) and optimizer.state_dict()["state"] == {}
    assert list(tmp_path.iterdir()) == [], "no checkpoint is written"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_fit_on_cuda_without_a_gpu(blobs):
    model = TinyNet()
    with pytest.raises(RuntimeError, match="device='cuda' but PyTorch sees no CUDA GPU"):
        cu.fit(model, DataLoader(blobs), DataLoader(blobs), _sgd(model), 1, device="cuda", progress=False)


def test_device_defaults_to_the_models_own():
    assert checks.model_device(TinyNet().to("meta"), None, "fit") == torch.device("meta")
    assert checks.model_device(nn.ReLU(), None, "fit") == torch.device("cpu")  # no weights: the CPU
    split = TinyNet()
    split.net[3].to("meta")
    with pytest.raises(ValueError, match=r"weights are on several devices \['cpu', 'meta'\]"):
        checks.model_device(split, None, "fit")


def test_reduce_lr_on_plateau_is_stepped_with_the_monitored_value(loaders):
    torch.manual_seed(0)
    model = TinyNet()
    optimizer = _sgd(model)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", patience=0, factor=0.5)
    seen = []
    step = scheduler.step
    scheduler.step = lambda value: seen.append(value) or step(value)
    history = cu.fit(model, *loaders, optimizer, epochs=3, scheduler=scheduler, monitor="val_accuracy",
                     progress=False)
    assert seen == history["val_accuracy"]


def test_check_every_must_be_positive(loaders):
    model = TinyNet()
    snapshot = _snapshot(model)
    with pytest.raises(ValueError, match="training: check_every must be a whole number of at least 1, got 0"):
        cu.train_one_epoch(model, loaders[0], _sgd(model), check_every=0, progress=False)
    assert _unchanged(model, snapshot)


# -- fit: NaN losses and restore_best ------------------------------------------------------------------

class NanAfter:
    """Yields the batches of ``loader``; from pass ``after + 1`` on, the inputs are NaN."""

    def __init__(self, loader, after):
        self.loader, self.after, self.passes = loader, after, 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.passes += 1
        for x, y in self.loader:
            yield (torch.full_like(x, float("nan")) if self.passes > self.after else x), y


def test_nan_validation_loss_stops_and_keeps_the_best_checkpoint(tmp_path, loaders):
    torch.manual_seed(0)
    model = TinyNet()
    path = tmp_path / "best.pt"
    with pytest.raises(cu.NonFiniteLossError) as info:
        cu.fit(model, loaders[0], NanAfter(loaders[1], after=1), _sgd(model), epochs=4, checkpoint_path=path,
               progress=False)
    message = str(info.value)
    assert "The validation loss is nan after epoch 2" in message
    assert "The model holds the weights of epoch 1, the best" in message and "error.history" in message
    history = info.value.history
    assert history["epoch"] == [1, 2] and history.stop_reason == "non_finite_loss" and history.best_epoch == 1
    saved = cu.load_checkpoint(path)
    assert saved["epoch"] == 1
    assert all(torch.equal(v, saved["model"][k]) for k, v in model.state_dict().items())


def test_nan_training_loss_restores_the_best_weights_from_memory(loaders):
    torch.manual_seed(0)
    model = TinyNet()
    with pytest.raises(cu.NonFiniteLossError, match=r"epoch 3, step \d+\. Training stopped") as info:
        cu.fit(model, NanAfter(loaders[0], after=2), loaders[1], _sgd(model), epochs=4, restore_best=True,
               progress=False)
    history = info.value.history
    assert history["epoch"] == [1, 2] and history.stop_reason == "non_finite_loss"
    assert all(torch.isfinite(p).all() for p in model.parameters()), "the best weights are back, not the NaN ones"
    best = history["val_loss"][history.best_epoch - 1]
    assert cu.evaluate(model, loaders[1])["loss"] == pytest.approx(best, rel=1e-5)


def _worsening_run(loaders, **kwargs):
    """Two good epochs, then a learning rate so high that validation gets worse."""
    torch.manual_seed(0)
    model = TinyNet()
    optimizer = _sgd(model)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0 if e < 2 else 200.0)
    history = cu.fit(model, *loaders, optimizer, epochs=5, scheduler=scheduler, progress=False, **kwargs)
    assert history.best_epoch < 5, "the test needs a run whose last epoch is not its best"
    return model, history


def test_restore_best_true_restores_without_patience_or_checkpoint(loaders):
    model, history = _worsening_run(loaders, restore_best=True)
    best = min(history["val_loss"])
    assert cu.evaluate(model, loaders[1])["loss"] == pytest.approx(best, rel=1e-5)


def test_restore_best_default_keeps_the_last_epoch_unless_patience_or_checkpoint(tmp_path, loaders):
    model, history = _worsening_run(loaders)
    assert cu.evaluate(model, loaders[1])["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-5)
    path = tmp_path / "best.pt"
    model, history = _worsening_run(loaders, checkpoint_path=path, restore_best=False)
    assert cu.evaluate(model, loaders[1])["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-5)
    assert cu.load_checkpoint(path)["epoch"] == history.best_epoch


# -- labels out of range, on the CPU and (stand-in) on a GPU ------------------------------------------

def test_bad_labels_in_the_first_batch_change_nothing():
    data = make_blobs(n=32, num_classes=6)  # labels 0..5 for a 4-class model
    model = _bn_net(num_classes=4)
    optimizer = _sgd(model)
    snapshot = _snapshot(model)
    with pytest.raises(ValueError, match=r"training: labels range from 0 to 5, but the model has 4 outputs "
                                         r"\(classes 0\.\.3\)\. Make the last layer as wide"):
        cu.train_one_epoch(model, DataLoader(data, batch_size=8), optimizer, progress=False)
    assert _unchanged(model, snapshot), "weights and BatchNorm statistics as before"
    assert optimizer.state_dict()["state"] == {}


def _bad_label_at_step(step, batch_size=8, steps=6):
    data = make_blobs(n=batch_size * steps)
    labels = data.tensors[1].clone()
    labels[(step - 1) * batch_size + 2] = 7
    return DataLoader(TensorDataset(data.tensors[0], labels), batch_size=batch_size)


def test_bad_cpu_label_later_is_caught_before_its_batch_is_used():
    model = _bn_net()
    loader = _bad_label_at_step(4)
    reference = _bn_net()
    reference.load_state_dict(model.state_dict())
    optimizer, reference_optimizer = _sgd(model), _sgd(reference)
    with pytest.raises(ValueError, match="labels range from 0 to 7, but the model has 4 outputs"):
        cu.train_one_epoch(model, loader, optimizer, progress=False)
    for i, (x, y) in enumerate(loader):  # the same three good steps by hand
        if i == 3:
            break
        reference_optimizer.zero_grad()
        nn.functional.cross_entropy(reference(x), y).backward()
        reference_optimizer.step()
    assert _unchanged(model, _snapshot(reference)), "the model holds exactly the three good steps"


def test_deferred_label_check_on_cpu_tensors():
    """DeferredChecks is the code that checks labels on a GPU; here it runs on CPU tensors."""
    deferred = checks.DeferredChecks(torch.device("cpu"), "training", epoch=2)
    assert deferred.labels(1, torch.tensor([0, 3, 1]), num_classes=4).tolist() == [0, 3, 1]
    clipped = deferred.labels(2, torch.tensor([0, 9, -1]), num_classes=4)
    assert clipped.tolist() == [0, 3, 0], "clipped into range, so that CUDA's loss kernel does not abort"
    deferred.labels(3, torch.tensor([5, 6]), num_classes=4)  # a later bad step: the first one is reported
    with pytest.raises(ValueError, match=r"training: labels range from -1 to 9 \(step 2\), but the model has 4 "):
        deferred.raise_if_any()


def test_labels_on_the_device_are_checked_every_batch(monkeypatch):
    """As with a GPULoader on a GPU: labels are not on the CPU, so every batch goes through DeferredChecks."""
    monkeypatch.setattr(checks, "is_on_cpu", lambda tensor: False)
    model = TinyNet()
    with pytest.raises(ValueError, match=r"training: labels range from 0 to 7 \(step 5\)"):
        cu.train_one_epoch(model, _bad_label_at_step(5, steps=12), _sgd(model), check_every=4, progress=False)
    with pytest.raises(ValueError, match=r"evaluation: labels range from 0 to 7 \(step 3\)"):
        cu.evaluate(model, _bad_label_at_step(3))


def test_device_label_checks_do_not_wait_every_step(monkeypatch):
    """Every read of a device value (item, tolist, int, float, bool) waits for the GPU: their number must not
    grow with the number of batches."""
    monkeypatch.setattr(checks, "is_on_cpu", lambda tensor: False)
    calls = []
    for name in ("item", "tolist", "__int__", "__float__", "__bool__"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _f=original, **k: calls.append(1) or _f(self, *a, **k))

    def count(batches):
        model, data = TinyNet(), make_blobs(n=8 * batches)
        calls.clear()
        cu.train_one_epoch(model, DataLoader(data, batch_size=8), _sgd(model), check_every=1000, progress=False)
        return len(calls)

    assert count(4) == count(16) <= 6


# -- inputs of the wrong dtype or shape ------------------------------------------------------------------

@pytest.mark.parametrize("inputs, targets, error, message", [
    (torch.zeros(8, 3, 8, 8, dtype=torch.float64), torch.zeros(8, dtype=torch.long), TypeError,
     r"inputs are float64 \(NumPy's default\) but the model's weights are torch.float32\. Convert the data once"),
    (torch.zeros(8, 8, 8), torch.zeros(8, dtype=torch.long), RuntimeError,
     r"the model failed on inputs of shape \(4, 8, 8\): the inputs have no channel axis"),
    (torch.zeros(8, 8, 8, 3), torch.zeros(8, dtype=torch.long), RuntimeError,
     r"the inputs are channels-last .* use x\.permute\(0, 3, 1, 2\)"),
    (torch.zeros(8, 3, 16, 16), torch.zeros(8, dtype=torch.long), RuntimeError,
     "a Linear layer got another number of features than it was built for"),
    (torch.zeros(8, 3, 8, 8), torch.zeros(8, 4, dtype=torch.long), ValueError,
     r"One-hot targets\? Pass class indices: targets.argmax\(dim=1\)"),
])
def test_wrong_input_dtype_or_shape_says_what_to_change(inputs, targets, error, message):
    model = _bn_net()
    optimizer = _sgd(model)
    snapshot = _snapshot(model)
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=4)
    with pytest.raises(error, match=message):
        cu.train_one_epoch(model, loader, optimizer, progress=False)
    assert _unchanged(model, snapshot) and optimizer.state_dict()["state"] == {}
    with pytest.raises(error, match=re.sub("^training", "evaluation", message)):
        cu.evaluate(model, loader)


# -- fit: the first validation batch is checked before the first epoch -------------------------------------

class _EmptyStream(torch.utils.data.IterableDataset):
    def __iter__(self):
        return iter(())


def _val_sets():
    data = make_blobs(n=32)
    images, labels = data.tensors
    return {
        "empty": (DataLoader(_EmptyStream(), batch_size=8), ValueError,
                  r"fit \(val_loader\): the loader yielded no batches .* Check the validation split"),
        "labels": (DataLoader(TensorDataset(images, labels + 6), batch_size=8), ValueError,
                   r"fit \(val_loader\): labels range from 6 to 9, but the model has 4 outputs"),
        "uint8": (DataLoader(TensorDataset((images * 40).to(torch.uint8), labels), batch_size=8), TypeError,
                  r"fit \(val_loader\): inputs have dtype torch.uint8, but a model needs floats\. .*ToTensor\(\)"),
        "3-tuples": (DataLoader(data, batch_size=8, collate_fn=cu.pad_collate), TypeError,
                     r"fit \(val_loader\): each batch must be a pair \(inputs, targets\), got a tuple of 3 items\. "
                     r"Extra items, e.g\. pad_collate's sizes\?"),
        "dicts": ([{"image": images[:8], "label": labels[:8]}], TypeError,
                  r"got a dict with keys \['image', 'label'\]\. Make the dataset return \(image, label\) pairs"),
        "one-hot": (DataLoader(TensorDataset(images, nn.functional.one_hot(labels)), batch_size=8), ValueError,
                    r"fit \(val_loader\): .* One-hot targets\? Pass class indices"),
        "double": (DataLoader(TensorDataset(images.double(), labels), batch_size=8), TypeError,
                   r"fit \(val_loader\): inputs are float64 \(NumPy's default\)"),
        "gpu_loader": (cu.GPULoader(np.zeros((8, 8, 8, 3), np.uint8), np.full(8, 5), batch_size=4), ValueError,
                       r"fit \(val_loader\): labels range from 5 to 5, but the model has 4 outputs"),
    }


@pytest.mark.parametrize("case", list(_val_sets()))
def test_a_bad_validation_loader_is_reported_before_training(tmp_path, blobs, case):
    val_loader, error, message = _val_sets()[case]
    model = _bn_net()
    optimizer = _sgd(model)
    snapshot = _snapshot(model)
    train = CountingLoader(DataLoader(make_blobs(n=32), batch_size=8))
    with pytest.raises(error, match=message):
        cu.fit(model, train, val_loader, optimizer, epochs=2, checkpoint_path=tmp_path / "best.pt", progress=False)
    assert train.iterations == 0, "no training before the validation batch is checked"
    assert _unchanged(model, snapshot) and optimizer.state_dict()["state"] == {} and model.training
    assert list(tmp_path.iterdir()) == []


class _Dropped(nn.Module):
    """A model whose training draws from torch's global generator (dropout), to see any extra draw."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 4))

    def forward(self, x):
        return self.net(x)


def _val_loaders(data):
    return {
        "shuffled, global generator": lambda: DataLoader(data, batch_size=16, shuffle=True),
        "own generator": lambda: DataLoader(data, batch_size=16, shuffle=True,
                                            generator=torch.Generator().manual_seed(1)),
        "persistent workers": lambda: DataLoader(data, batch_size=16, num_workers=1, persistent_workers=True),
        "GPULoader, shuffled and flipped": lambda: cu.GPULoader(
            (data.tensors[0] * 40 + 128).clamp(0, 255).to(torch.uint8), data.tensors[1], batch_size=16,
            shuffle=True, flip=True, crop_padding=1, layout="NCHW"),
        "list of batches": lambda: list(DataLoader(data, batch_size=16)),
    }


@pytest.mark.parametrize("kind", list(_val_loaders(make_blobs(n=8))))
def test_the_first_batch_check_changes_no_result(monkeypatch, kind):
    """fit with the check gives exactly the numbers of fit without it: every generator is put back."""
    data = make_blobs(n=48, seed=1)

    def run():
        torch.manual_seed(0)
        model = _Dropped()
        train = DataLoader(make_blobs(n=64), batch_size=16, shuffle=True)  # shuffled by the global generator
        val = _val_loaders(data)[kind]()
        history = cu.fit(model, train, val, _sgd(model), epochs=3, progress=False,
                         tta_flip=kind.startswith("GPULoader"))
        assert getattr(val, "epoch", 3) == 3, "a GPULoader counts the 3 validation passes, not the check"
        return history, _snapshot(model), torch.rand(1)

    checked = run()
    monkeypatch.setattr(cu.train, "check_first_batch", lambda *args, **kwargs: None)
    unchecked = run()
    assert _numbers(checked[0]) == _numbers(unchecked[0]) and checked[2] == unchecked[2]
    assert _unchanged(_load(checked[1]), unchecked[1])


def _numbers(history):
    return {k: v for k, v in history.items() if k != "seconds"}  # all but the timings


def _load(state):
    model = _Dropped()
    model.load_state_dict(state)
    return model


# -- checkpoint paths that cannot be written --------------------------------------------------------------

def _unwritable_folder(tmp_path):
    """A folder no file can be created in: read-only permissions, or (as root, who ignores them) /sys."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    if not Path("/sys").is_dir():
        pytest.skip("running as root without /sys: no folder that root cannot write to")
    return Path("/sys")


@pytest.mark.parametrize("inside", ["best.pt", "new_folder/best.pt"])
def test_checkpoint_in_a_folder_that_cannot_be_written(tmp_path, loaders, inside):
    folder = _unwritable_folder(tmp_path)
    path = folder / inside
    before = sorted(p.name for p in folder.iterdir())
    model = TinyNet()
    snapshot = _snapshot(model)
    train = CountingLoader(loaders[0])
    with pytest.raises(PermissionError, match=rf"fit \(checkpoint_path\): cannot (write in|create .* in) the folder "
                                              rf"{re.escape(str(folder))} .* Give a checkpoint path in a folder you "
                                              r"can write to"):
        cu.fit(model, train, loaders[1], _sgd(model), epochs=1, checkpoint_path=path, progress=False)
    assert train.iterations == 0 and _unchanged(model, snapshot)
    with pytest.raises(PermissionError, match="save_checkpoint: cannot"):
        cu.save_checkpoint(path, model)
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_file_that_is_not_a_checkpoint_is_never_overwritten(tmp_path, loaders):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    model = TinyNet()
    train = CountingLoader(loaders[0])
    with pytest.raises(FileExistsError, match=r"fit \(checkpoint_path\): .*notes\.txt exists and is not a PyTorch "
                                              r"checkpoint; saving would overwrite it"):
        cu.fit(model, train, loaders[1], _sgd(model), epochs=1, checkpoint_path=notes, progress=False)
    with pytest.raises(FileExistsError, match="save_checkpoint: .* is not a PyTorch checkpoint"):
        cu.save_checkpoint(notes, model)
    assert notes.read_text() == "my notes" and train.iterations == 0
    old = cu.save_checkpoint(tmp_path / "best.pt", model, epoch=1)  # a checkpoint is replaced, as fit needs
    cu.save_checkpoint(old, model, epoch=2)
    assert cu.load_checkpoint(old)["epoch"] == 2


# -- schedules that do not fit the run ----------------------------------------------------------------------

@pytest.mark.parametrize("per_batch, build, message", [
    (True, dict(epochs=1, steps_per_epoch=8), r"OneCycleLR schedule has 8 steps left, but fit steps it 16 times "
                                              r"\(2 epochs x 8 batches\), so it would fail in the middle of training"),
    (False, dict(total_steps=1), r"has 1 steps left, but fit steps it 2 times \(once per epoch, 2 epochs\)"),
    (False, dict(epochs=2, steps_per_epoch=8), r"OneCycleLR schedule has 16 steps \(2 epochs x 8 batches\), but fit "
                                               r"steps it once per epoch.* Pass scheduler_per_batch=True"),
])
def test_one_cycle_schedule_of_the_wrong_length(tmp_path, blobs, per_batch, build, message):
    model = TinyNet()
    optimizer = _sgd(model)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, **build)
    train = CountingLoader(DataLoader(blobs, batch_size=32))  # 8 batches
    snapshot = _snapshot(model)
    with pytest.raises(ValueError, match=message):
        cu.fit(model, train, DataLoader(blobs, batch_size=64), optimizer, 2, scheduler=scheduler,
               scheduler_per_batch=per_batch, checkpoint_path=tmp_path / "best.pt", progress=False)
    assert train.iterations == 0 and _unchanged(model, snapshot) and list(tmp_path.iterdir()) == []
    assert scheduler.last_epoch == 0


# -- models and batches from elsewhere ----------------------------------------------------------------------

class _TupleNet(TinyNet):
    def forward(self, x):
        return super().forward(x), x.mean()


class _DictNet(TinyNet):
    def forward(self, x):
        return {"logits": super().forward(x)}


class _OneOutput(TinyNet):
    def forward(self, x):
        return super().forward(x)[:, 0]


@pytest.mark.parametrize("model_class, message", [
    (_TupleNet, r"the model returned a tuple of 2 items; expected one tensor of logits, shape \(batch, num_classes\) "
                r"= \(8, C\)\. Wrap the model .* model\(x\)\[0\]"),
    (_DictNet, r"the model returned a dict with keys \['logits'\]; expected one tensor of logits.* "
               r"model\(x\)\['logits'\]"),
    (_OneOutput, r"the model returned \(8,\); .* One number per sample: for classification the last layer needs one "
                 r"output per class"),
])
def test_models_that_do_not_return_logits(tmp_path, model_class, message):
    loader = DataLoader(make_blobs(n=32), batch_size=8)
    model = model_class()
    optimizer = _sgd(model)
    snapshot = _snapshot(model)
    with pytest.raises(ValueError, match=r"fit \(val_loader\): " + message):
        cu.fit(model, loader, loader, optimizer, 1, checkpoint_path=tmp_path / "best.pt", progress=False)
    with pytest.raises(ValueError, match="training: " + message):
        cu.train_one_epoch(model, loader, optimizer, progress=False)
    for call, where in ((lambda: cu.evaluate(model, loader, tta_flip=True), "evaluation"),
                        (lambda: cu.predict(model, loader), "prediction")):
        with pytest.raises(ValueError, match=f"{where}: " + message):
            call()
    assert _unchanged(model, snapshot) and optimizer.state_dict()["state"] == {} and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("inputs_dtype, model_dtype, message", [
    (torch.float16, torch.float32, r"the inputs are torch\.float16 but the model's weights are torch\.float32\. Use "
                                   r"the same dtype for both, usually float32"),
    (torch.float32, torch.float64, r"the inputs are torch\.float32 but the model's weights are torch\.float64"),
])
def test_inputs_and_weights_of_different_dtypes(inputs_dtype, model_dtype, message):
    data = make_blobs(n=16)
    loader = DataLoader(TensorDataset(data.tensors[0].to(inputs_dtype), data.tensors[1]), batch_size=8)
    model = _bn_net().to(model_dtype)
    optimizer = _sgd(model)
    snapshot = _snapshot(model)
    with pytest.raises(RuntimeError, match=r"training: the model failed on inputs of shape \(8, 3, 8, 8\): " + message):
        cu.train_one_epoch(model, loader, optimizer, progress=False)
    assert _unchanged(model, snapshot), "weights and BatchNorm statistics as before"


def test_a_model_without_parameters():
    data = make_blobs(n=16)
    model = nn.Flatten()
    loader = DataLoader(TensorDataset(data.tensors[0].flatten(1)[:, :4].double(), data.tensors[1]), batch_size=8)
    result = cu.evaluate(model, loader)  # float64 inputs are fine: there are no float32 weights to clash with
    assert result["accuracy"] == pytest.approx((data.tensors[0].flatten(1)[:, :4].argmax(1) == data.tensors[1])
                                               .float().mean().item())
    with pytest.raises(ValueError, match=r"fit: the model \(Flatten\) has no parameters, so there is nothing to train"):
        cu.fit(model, loader, loader, _sgd(TinyNet()), 1, progress=False)


@pytest.mark.parametrize("targets, message", [
    (torch.arange(8)[:, None] % 4, r"got shapes \(8, 3, 8, 8\) and \(8, 1\)\. Targets with a trailing axis of 1\? "
                                   r"Pass targets\.squeeze\(1\)"),
])
def test_targets_with_a_trailing_axis(targets, message):
    model = TinyNet()
    snapshot = _snapshot(model)
    loader = DataLoader(TensorDataset(make_blobs(n=8).tensors[0], targets), batch_size=8)
    with pytest.raises(ValueError, match=message):
        cu.train_one_epoch(model, loader, _sgd(model), progress=False)
    assert _unchanged(model, snapshot)


@pytest.mark.parametrize("batches, message", [
    ([(np.zeros((4, 3, 8, 8), np.float32), np.zeros(4, np.int64))],
     r"inputs and targets must be tensors, got ndarray and ndarray\. Convert NumPy arrays with torch\.from_numpy"),
    (DataLoader(TensorDataset(torch.zeros(4, 3, 8, 8)), batch_size=4),
     r"each batch must be a pair \(inputs, targets\), got a list of 1 items\. A dataset without labels, such as "
     r"TensorDataset\(images\)\? Add the labels"),
])
def test_batches_from_elsewhere(batches, message):
    model = TinyNet()
    snapshot = _snapshot(model)
    with pytest.raises(TypeError, match="training: " + message):
        cu.train_one_epoch(model, batches, _sgd(model), progress=False)
    assert _unchanged(model, snapshot)


@pytest.mark.parametrize("change, error, message", [
    (dict(optimizer="other"), ValueError, "training: the optimizer holds none of this model's parameters"),
    (dict(loss_fn=nn.CrossEntropyLoss), TypeError, r"training: loss_fn is the class CrossEntropyLoss; pass an "
                                                   r"instance: CrossEntropyLoss\(\)"),
    (dict(scheduler="plateau"), ValueError, r"training: ReduceLROnPlateau needs the validation loss once per epoch, "
                                            r"but train_one_epoch steps its scheduler after every batch"),
    (dict(scheduler="other_optimizer"), ValueError, "the scheduler was built for another optimizer"),
])
def test_train_one_epoch_checks_what_fit_checks(blobs, change, error, message):
    model = TinyNet()
    optimizer = _sgd(model)
    special = {"other": lambda: _sgd(TinyNet()),
               "plateau": lambda: torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer),
               "other_optimizer": lambda: torch.optim.lr_scheduler.StepLR(_sgd(TinyNet()), 1)}
    kwargs = {k: special[v]() if isinstance(v, str) else v for k, v in change.items()}
    kwargs.setdefault("optimizer", optimizer)
    loader = CountingLoader(DataLoader(blobs, batch_size=32))
    snapshot = _snapshot(model)
    with pytest.raises(error, match=message):
        cu.train_one_epoch(model, loader, progress=False, **kwargs)
    assert loader.iterations == 0 and _unchanged(model, snapshot)


# -- NumPy integers work wherever Python integers do ----------------------------------------------------------

def test_numpy_integers_as_counts(tmp_path):
    def run(whole):
        torch.manual_seed(0)
        model = TinyNet()
        train = DataLoader(make_blobs(n=64), batch_size=16, shuffle=True)
        val = DataLoader(make_blobs(n=32, seed=1), batch_size=16)
        history = cu.fit(model, train, val, _sgd(model, lr=0.01), whole(3), patience=whole(2), progress=False,
                         checkpoint_path=tmp_path / f"{whole.__name__}.pt")
        one = cu.train_one_epoch(model, train, _sgd(model), epoch=whole(4), check_every=whole(2), progress=False)
        return history, one, _snapshot(model)

    python, numpy = run(int), run(np.int64)
    assert _numbers(python[0]) == _numbers(numpy[0]) and python[1] == numpy[1]
    assert _unchanged(_model_from(python[2]), numpy[2])
    assert all(type(e) is int for e in numpy[0]["epoch"])
    assert cu.load_checkpoint(tmp_path / "int64.pt")["epoch"] == cu.load_checkpoint(tmp_path / "int.pt")["epoch"]


def _model_from(state):
    model = TinyNet()
    model.load_state_dict(state)
    return model


def test_parameter_groups_takes_numpy_numbers_and_the_model():
    model = TinyNet()
    groups = cu.parameter_groups(model, np.float32(5e-4))
    assert groups[0]["weight_decay"] == pytest.approx(5e-4) and type(groups[0]["weight_decay"]) is float
    assert cu.parameter_groups(model, np.int64(0))[0]["weight_decay"] == 0.0
    with pytest.raises(TypeError, match=r"parameter_groups takes the model itself, got generator: "
                                        r"parameter_groups\(model, weight_decay\), not model\.parameters\(\)"):
        cu.parameter_groups(model.parameters(), 5e-4)
