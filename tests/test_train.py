import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import course_utils as cu
from conftest import TinyNet, make_blobs


def _sgd(model, lr=0.1):
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def test_fit_learns_and_returns_history(loaders):
    torch.manual_seed(0)
    model = TinyNet()
    history = cu.fit(model, *loaders, _sgd(model), epochs=3, progress=False)
    assert history["epoch"] == [1, 2, 3]
    assert set(cu.History.KEYS) <= set(history)
    assert all(len(v) == 3 for v in history.values())
    assert history["val_accuracy"][-1] > 0.9  # 4 well-separated classes: chance is 0.25
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history.stop_reason == "completed"
    assert all(s > 0 for s in history["seconds"]) and history["lr"] == [0.1] * 3


def test_same_seed_same_numbers_on_cpu(blobs):
    def run():
        torch.manual_seed(7)
        model = TinyNet()
        train = DataLoader(blobs, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(7))
        return cu.fit(model, train, DataLoader(blobs, batch_size=64), _sgd(model), epochs=2, progress=False)

    a, b = run(), run()
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert a[key] == b[key]


def test_validate_every_evaluates_less_and_trains_the_same(blobs, monkeypatch):
    """validate_every=k evaluates after every k-th epoch and after the last; training is unchanged."""
    def run(**options):
        torch.manual_seed(3)
        model = TinyNet()
        train = DataLoader(blobs, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(3))
        return cu.fit(model, train, DataLoader(make_blobs(n=64, seed=0), batch_size=64), _sgd(model), epochs=5,
                      progress=False, **options)

    evaluated = []
    evaluate = cu.train.evaluate
    monkeypatch.setattr(cu.train, "evaluate", lambda *a, **k: evaluated.append(1) or evaluate(*a, **k))
    every = run()
    assert len(evaluated) == 5
    evaluated.clear()
    sparse = run(validate_every=2)
    assert len(evaluated) == 3  # after epochs 2, 4 and 5 (the last)
    assert sparse["epoch"] == [1, 2, 3, 4, 5]
    assert sparse["train_loss"] == every["train_loss"] and sparse["train_accuracy"] == every["train_accuracy"]
    for epoch in range(5):
        if epoch + 1 in (2, 4, 5):
            assert sparse["val_loss"][epoch] == every["val_loss"][epoch]
            assert sparse["val_accuracy"][epoch] == every["val_accuracy"][epoch]
        else:
            assert math.isnan(sparse["val_loss"][epoch]) and math.isnan(sparse["val_accuracy"][epoch])
    assert sparse.best_epoch in (2, 4, 5)
    evaluated.clear()
    once = run(validate_every=5)
    assert len(evaluated) == 1 and once.best_epoch == 5
    assert once["val_accuracy"][-1] == every["val_accuracy"][-1]


@pytest.mark.parametrize(("options", "match"), [
    (dict(validate_every=0), "validate_every .* at least 1"),
    (dict(validate_every=1.5), "validate_every .* whole number"),
    (dict(validate_every=2, patience=2), "early stopping .* after every epoch.*validate_every=1"),
])
def test_validate_every_bad_input(loaders, options, match):
    model = TinyNet()
    with pytest.raises(ValueError, match=match):
        cu.fit(model, *loaders, _sgd(model), epochs=4, progress=False, **options)


def test_validate_every_refuses_reduce_on_plateau(loaders):
    model = TinyNet()
    opt = _sgd(model)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.raises(ValueError, match="ReduceLROnPlateau needs the validation loss after every epoch"):
        cu.fit(model, *loaders, opt, epochs=4, scheduler=plateau, validate_every=2, progress=False)


def test_evaluate_and_tta(loaders):
    model = TinyNet()
    result = cu.evaluate(model, loaders[1])
    assert 0 <= result["accuracy"] <= 1 and result["loss"] > 0
    assert model.training  # mode restored
    flipped = cu.evaluate(model, loaders[1], tta_flip=True)
    assert flipped["loss"] != result["loss"]


def test_scheduler_per_batch_and_per_epoch(loaders):
    model = TinyNet()
    opt = _sgd(model)
    steps = len(loaders[0]) * 2
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=steps)
    history = cu.fit(model, *loaders, opt, epochs=2, scheduler=sched, scheduler_per_batch=True, progress=False)
    assert sched.last_epoch == steps
    assert history["lr"][0] != history["lr"][1]
    model = TinyNet()
    opt = _sgd(model)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = cu.fit(model, *loaders, opt, epochs=2, scheduler=sched, progress=False)
    assert history["lr"] == [0.1, 0.05]


def test_train_one_epoch_reports_the_learning_rate_at_the_start_of_the_epoch(loaders):
    """Its "lr" is the rate the epoch started with, not an average over the batches nor the rate it ended with."""
    model = TinyNet()
    opt = _sgd(model)
    sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.1, total_iters=len(loaders[0]))
    start = opt.param_groups[0]["lr"]
    result = cu.train_one_epoch(model, loaders[0], opt, scheduler=sched, progress=False)
    assert result["lr"] == start == 0.1
    assert opt.param_groups[0]["lr"] < start, "control: the scheduler lowered the rate during the epoch"


def test_label_out_of_range_is_caught_before_the_loss(loaders):
    model = TinyNet(num_classes=3)  # data has 4 classes
    with pytest.raises(ValueError, match="labels range from 0 to 3, but the model has 3 outputs"):
        cu.train_one_epoch(model, loaders[0], _sgd(model), progress=False)
    with pytest.raises(ValueError, match="3 outputs"):
        cu.evaluate(model, loaders[1])


@pytest.mark.parametrize(
    "dataset, match",
    [
        (TensorDataset(torch.zeros(8, 3, 8, 8, dtype=torch.uint8), torch.zeros(8, dtype=torch.long)), "ToTensor"),
        (TensorDataset(torch.zeros(8, 3, 8, 8), torch.zeros(8)), "integer class indices"),
        (TensorDataset(torch.zeros(8, 3, 8, 8), torch.zeros(8, 2, dtype=torch.long)), "shapes"),
        (TensorDataset(torch.zeros(8, 3, 8, 8)), "pair"),
    ],
)
def test_wrong_shapes_or_dtypes_are_explained(dataset, match):
    model = TinyNet()
    with pytest.raises((TypeError, ValueError), match=match):
        cu.train_one_epoch(model, DataLoader(dataset, batch_size=4), _sgd(model), progress=False)


def test_model_output_shape_checked():
    model = nn.Conv2d(3, 4, 3)  # forgot to flatten and classify
    loader = DataLoader(make_blobs(n=8), batch_size=4)
    with pytest.raises(ValueError, match="flatten"):
        cu.train_one_epoch(model, loader, _sgd(model), progress=False)


def test_pil_images_get_a_hint():
    from PIL import Image

    class PilDataset(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return Image.new("RGB", (8, 8)), 0

    model = TinyNet()
    with pytest.raises(TypeError, match="ToTensor"):
        cu.train_one_epoch(model, DataLoader(PilDataset(), batch_size=2), _sgd(model), progress=False)


def test_empty_loader():
    model = TinyNet()
    empty = DataLoader(TensorDataset(torch.zeros(0, 3, 8, 8), torch.zeros(0, dtype=torch.long)), batch_size=4)
    with pytest.raises(ValueError, match="no batches"):
        cu.train_one_epoch(model, empty, _sgd(model), progress=False)
    with pytest.raises(ValueError, match="no batches"):
        cu.evaluate(model, empty)


def test_nan_loss_stops_naming_epoch_and_step(loaders):
    data = make_blobs(n=64)
    images = data.tensors[0].clone()
    images[40] = float("nan")  # sample 40 is in batch 6 (batch size 8), 1-based step 6
    loader = DataLoader(TensorDataset(images, data.tensors[1]), batch_size=8)
    model = TinyNet()
    with pytest.raises(cu.NonFiniteLossError, match="epoch 2, step 6"):
        cu.train_one_epoch(model, loader, _sgd(model), epoch=2, check_every=3, progress=False)


def test_checkpoint_roundtrip_and_atomic_write(tmp_path):
    model = TinyNet()
    path = cu.save_checkpoint(tmp_path / "ckpt" / "best.pt", model, epoch=3, val_loss=0.5)
    assert [p.name for p in path.parent.iterdir()] == ["best.pt"]  # no temporary file left behind
    other = TinyNet()
    checkpoint = cu.load_checkpoint(path, other)
    assert checkpoint["epoch"] == 3 and checkpoint["val_loss"] == 0.5
    for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = cu.save_checkpoint(tmp_path / "best.pt", TinyNet(), epoch=1)
    original = path.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        cu.save_checkpoint(path, TinyNet(), epoch=2)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_clear_error_file_untouched(tmp_path, damage):
    path = cu.save_checkpoint(tmp_path / "best.pt", TinyNet())
    content = path.read_bytes()
    broken = {"truncate": content[: len(content) // 2], "garbage": b"not a checkpoint" * 10, "empty": b""}[damage]
    path.write_bytes(broken)
    with pytest.raises(cu.CheckpointError, match="truncated or corrupt"):
        cu.load_checkpoint(path, TinyNet())
    assert path.read_bytes() == broken


def test_checkpoint_missing_or_mismatched(tmp_path):
    with pytest.raises(cu.CheckpointError, match="No checkpoint"):
        cu.load_checkpoint(tmp_path / "nope.pt")
    path = cu.save_checkpoint(tmp_path / "best.pt", TinyNet(num_classes=4))
    with pytest.raises(cu.CheckpointError, match="does not fit this model"):
        cu.load_checkpoint(path, TinyNet(num_classes=5))


def test_checkpoint_refuses_arbitrary_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "x": Evil()}, path)
    with pytest.raises(cu.CheckpointError):
        cu.load_checkpoint(path)


def test_early_stopping_saves_and_restores_best(tmp_path, loaders):
    torch.manual_seed(0)
    model = TinyNet()
    opt = _sgd(model, lr=0.1)
    # After a few epochs, a huge learning rate makes validation worse: early stopping must kick in.
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 if e < 2 else 200.0)
    path = tmp_path / "best.pt"
    history = cu.fit(model, *loaders, opt, epochs=20, scheduler=sched, patience=2, checkpoint_path=path,
                    progress=False)
    assert history.stop_reason == "early_stopping"
    assert len(history["epoch"]) < 20
    best = history.best_epoch
    assert history["val_loss"][best - 1] == min(history["val_loss"])
    assert cu.load_checkpoint(path)["epoch"] == best
    assert cu.evaluate(model, loaders[1])["loss"] == pytest.approx(history["val_loss"][best - 1], rel=1e-5)


def test_keyboard_interrupt_stops_the_cell_and_keeps_history_and_checkpoint(tmp_path, loaders):
    class InterruptingLoader:
        def __init__(self, loader):
            self.loader, self.epochs = loader, 0

        def __len__(self):
            return len(self.loader)

        def __iter__(self):
            self.epochs += 1
            for i, batch in enumerate(self.loader):
                if self.epochs == 3 and i == 2:
                    raise KeyboardInterrupt
                yield batch

    model = TinyNet()
    path = tmp_path / "best.pt"
    with pytest.raises(cu.TrainingInterrupted, match=r"after 2 complete epoch\(s\).*cu.last_history\(\)") as stopped:
        cu.fit(model, InterruptingLoader(loaders[0]), loaders[1], _sgd(model), epochs=5, checkpoint_path=path,
               progress=False)
    assert isinstance(stopped.value, KeyboardInterrupt), "the cell stops, as on any Ctrl-C"
    history = stopped.value.history
    assert cu.last_history() is history
    assert history.stop_reason == "interrupted"
    assert history["epoch"] == [1, 2]
    assert cu.load_checkpoint(path)["epoch"] == history.best_epoch


def test_predict_and_per_class_accuracy(loaders):
    preds, targets = cu.predict(TinyNet(), loaders[1])
    assert preds.shape == targets.shape == (64,)
    acc = cu.per_class_accuracy(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), num_classes=4)
    assert acc[:3].tolist() == [1.0, 1.0, 0.5] and math.isnan(acc[3])


def test_count_parameters():
    model = nn.Linear(10, 3)
    assert cu.count_parameters(model) == 33
    model.bias.requires_grad_(False)
    assert cu.count_parameters(model, trainable_only=True) == 30


def test_parameter_groups_exempt_biases_and_batchnorm():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    model[0].bias.requires_grad_(False)  # frozen parameters are left out
    decay, no_decay = cu.parameter_groups(model, weight_decay=5e-4)
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(model[0].weight), id(model[3].weight)}
    assert {id(p) for p in no_decay["params"]} == {id(model[1].weight), id(model[1].bias), id(model[3].bias)}
    optimizer = torch.optim.SGD(cu.parameter_groups(model, 5e-4), lr=0.1, momentum=0.9, nesterov=True)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [5e-4, 0.0]
    with pytest.raises(ValueError, match="weight_decay"):
        cu.parameter_groups(model, -1)


def test_train_one_epoch_does_not_sync_every_step(monkeypatch):
    """No ``.item()`` per batch on the hot path: on a GPU each one waits for the device to finish."""
    calls = []
    original = torch.Tensor.item
    monkeypatch.setattr(torch.Tensor, "item", lambda self: calls.append(1) or original(self))

    def count(batches):
        calls.clear()
        data = make_blobs(n=8 * batches)
        model = TinyNet()
        cu.train_one_epoch(model, DataLoader(data, batch_size=8), _sgd(model), progress=False, check_every=1000)
        return len(calls)

    assert count(4) == count(16) <= 3, "the number of .item() calls must not grow with the number of batches"
