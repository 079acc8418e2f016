"""cu.RunSettings: one value per run mode from the parameters cell, overrides, full size, and self-checks."""
import warnings

import numpy as np
import pytest

import course_utils as cu

EPOCHS = {"smoke": 1, "fast": 4, "full": 30}
IMAGES = {"smoke": 500, "fast": 10_000, "full": 45_000}


@pytest.mark.parametrize("mode, epochs, images", [("smoke", 1, 500), ("fast", 4, 10_000), ("full", 30, 45_000)])
def test_each_mode_takes_its_own_values(mode, epochs, images):
    run = cu.RunSettings(mode, EPOCHS=EPOCHS, TRAIN_IMAGES=IMAGES)
    assert run.mode == mode and run.values() == (epochs, images) and run.full_size
    assert run["TRAIN_IMAGES"] == images
    assert f"TRAIN_IMAGES {images:,}" in repr(run) and "run mode's own sizes" in repr(run)


def test_a_single_value_is_used_in_every_mode_and_is_not_full_size():
    run = cu.RunSettings("full", EPOCHS=2, TRAIN_IMAGES=IMAGES)
    assert run.values() == (2, 45_000)
    assert not run.full_size and run.overridden == ["EPOCHS"]
    assert "set by hand: EPOCHS" in repr(run)


def test_numpy_integers_become_python_integers():
    run = cu.RunSettings("fast", EPOCHS=np.int64(3), TRAIN_IMAGES={"smoke": np.int32(5), "fast": np.int64(7),
                                                                   "full": 9})
    assert run.values() == (3, 7) and all(type(v) is int for v in run.values())


def test_run_mode_comes_from_the_environment_when_none(monkeypatch):
    monkeypatch.setenv("COURSE_RUN_MODE", "smoke")
    assert cu.RunSettings(None, EPOCHS=EPOCHS).values() == (1,)


@pytest.mark.parametrize("bad, match", [
    ({"smoke": 1, "fast": 2}, "exactly the keys smoke, fast, full"),
    ({"smoke": 1, "fast": 2, "full": 3, "gpu": 4}, "exactly the keys"),
])
def test_a_table_with_wrong_modes_is_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        cu.RunSettings("fast", EPOCHS=bad)


def test_unknown_run_mode_and_no_knobs_are_refused():
    with pytest.raises(ValueError, match="RUN_MODE must be one of"):
        cu.RunSettings("quick", EPOCHS=EPOCHS)
    with pytest.raises(TypeError, match="at least one knob"):
        cu.RunSettings("fast")


def test_check_asserts_in_smoke_and_fast_mode():
    # None, not True: a check on a notebook cell's last line must not print "True" under the cell
    assert cu.RunSettings("fast", EPOCHS=EPOCHS).check(True, "fine") is None
    with pytest.raises(AssertionError, match="should beat chance"):
        cu.RunSettings("smoke", EPOCHS=EPOCHS).check(False, "should beat chance")


def test_check_in_full_mode_skips_when_overridden_and_warns_when_unmeasured(capsys):
    assert cu.RunSettings("full", EPOCHS=1).check(False, "LeNet reaches 55%") is None
    assert "skipped" in capsys.readouterr().out
    with pytest.warns(cu.FullModeExpectationWarning, match="LeNet reaches 55%"):
        assert cu.RunSettings("full", EPOCHS=EPOCHS).check(False, "LeNet reaches 55%") is False
    with pytest.raises(AssertionError, match="LeNet reaches 55%"):
        cu.RunSettings("full", EPOCHS=EPOCHS).check(False, "LeNet reaches 55%", measured=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cu.RunSettings("full", EPOCHS=EPOCHS).check(True, "LeNet reaches 55%") is True


def test_check_full_mode_only_in_full_mode_and_at_full_size(capsys):
    assert cu.RunSettings("fast", EPOCHS=EPOCHS).check_full_mode(False, "55%") is None  # not checked in fast mode
    assert cu.RunSettings("full", EPOCHS=3).check_full_mode(False, "55%") is None
    assert "skipped" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="55%"):
        cu.RunSettings("full", EPOCHS=EPOCHS).check_full_mode(False, "55%", measured=True)


# -- the notebooks use the pattern ----------------------------------------------------------------------------

from tools import nbkit  # noqa: E402

NOTEBOOKS = nbkit.notebooks()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem[:2] for p in NOTEBOOKS])
def test_every_per_mode_knob_goes_through_run_settings(path):
    """Each knob is declared once, in the parameters cell; cu.RunSettings picks its value and decides full size,
    so a knob missing from the call would silently stay a dict (or escape the full-size rule)."""
    nb = nbkit.read(path)
    tables = nbkit.mode_knobs(nb)
    calls = nbkit.find_cells(nb, r"cu\.RunSettings\(")
    if not tables:
        assert not calls, f"{path.name} calls cu.RunSettings without per-mode knobs in its parameters cell"
        return
    assert len(calls) == 1, f"{path.name}: one cell should build the run settings, found {len(calls)}"
    import ast

    call = next(n for n in ast.walk(ast.parse(nbkit.source(calls[0])))
                if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "RunSettings")
    passed = [(k.arg, k.value.id) for k in call.keywords]
    assert passed == [(name, name) for name in tables], (
        f"{path.name}: cu.RunSettings should receive every per-mode knob of the parameters cell, in order, as "
        f"NAME=NAME: expected {list(tables)}, got {passed}")
    for name, table in tables.items():
        assert set(table) == set(cu.RUN_MODES) and all(value is not None for value in table.values()), name
