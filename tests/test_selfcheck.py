import warnings

import pytest

import course_utils as cu


def test_not_full_mode_checks_nothing(capsys):
    assert cu.check_full_mode(False, "x", run_mode="fast") is None
    assert capsys.readouterr().out == ""


def test_turned_down_full_mode_skips_and_says_so(capsys):
    assert cu.check_full_mode(False, "LeNet reaches 55%", run_mode="full", full_size=False) is None
    assert "skipped" in capsys.readouterr().out


def test_unmeasured_threshold_warns_measured_one_asserts():
    with pytest.warns(cu.FullModeExpectationWarning, match="LeNet reaches 55%"):
        assert cu.check_full_mode(False, "LeNet reaches 55%", run_mode="full") is False
    with pytest.raises(AssertionError, match="LeNet reaches 55%"):
        cu.check_full_mode(False, "LeNet reaches 55%", run_mode="full", measured=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cu.check_full_mode(True, "LeNet reaches 55%", run_mode="full") is True
