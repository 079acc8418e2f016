"""cu.compare_runs: a variant is ahead only when every seed beat every seed of the other."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import course_utils as cu  # noqa: E402


def test_separate_ranges_give_a_ranking():
    c = cu.compare_runs({"tanh": [0.50, 0.51, 0.52], "ReLU": [0.55, 0.56, 0.54]})
    assert c.best == "ReLU" and c.ahead("ReLU", "tanh") and not c.ahead("tanh", "ReLU")
    verdict = c.verdict()
    assert verdict.startswith("ReLU is ahead of tanh on test accuracy")
    assert "ReLU 55.0% (54.0–56.0%, 3 seeds)" in verdict and "tanh 51.0% (50.0–52.0%, 3 seeds)" in verdict
    assert c.verdict("tanh", "ReLU") == verdict  # the order of the arguments does not change the sentence


def test_overlapping_ranges_are_within_the_spread_even_with_different_means():
    c = cu.compare_runs({"a": [0.50, 0.56, 0.53], "b": [0.52, 0.57, 0.55]})
    assert c.best == "b" and not c.ahead("b", "a")
    assert "b and a are within the seed-to-seed spread" in c.verdict()


def test_touching_ranges_are_within_the_spread():
    assert "within the seed-to-seed spread" in cu.compare_runs({"a": [1.0, 2.0], "b": [2.0, 3.0]}, percent=False,
                                                              metric="loss").verdict()


def test_lower_is_better_for_a_loss():
    c = cu.compare_runs({"plain": [1.2, 1.3, 1.25], "BatchNorm": [0.9, 0.95, 1.0]}, metric="validation loss",
                        higher_is_better=False, percent=False)
    assert c.best == "BatchNorm" and c.verdict().startswith("BatchNorm is ahead of plain on validation loss")


def test_one_seed_never_ranks():
    c = cu.compare_runs({"a": [0.9], "b": [0.1]})
    assert not c.ahead("a", "b") and "spread over seeds is unknown" in c.verdict()


def test_summary_compares_the_best_with_each_other_variant():
    c = cu.compare_runs({"x": [0.1, 0.11], "y": [0.5, 0.52], "z": [0.49, 0.53]})
    lines = c.summary().splitlines()
    assert lines == [c.verdict("y", "z"), c.verdict("y", "x")] and "within" in lines[0] and "ahead" in lines[1]


def test_table_results_and_plot():
    c = cu.compare_runs({"ReLU": torch.tensor([0.55, 0.57]), "tanh": np.array([0.5, 0.52])})
    table = c.table()
    assert list(table.index) == ["ReLU", "tanh"] and table.loc["ReLU", "mean (%)"] == 56.0
    assert table.loc["tanh", "lowest (%)"] == 50.0 and table.loc["tanh", "seeds"] == 2
    assert c.results("act_") == pytest.approx({"act_relu_mean": 0.56, "act_relu_low": 0.55, "act_relu_high": 0.57,
                                              "act_tanh_mean": 0.51, "act_tanh_low": 0.5, "act_tanh_high": 0.52})
    fig = c.plot(title="ReLU vs tanh")
    assert fig.axes[0].get_title() == "ReLU vs tanh" and "%" in fig.axes[0].get_ylabel()
    assert "<table" in c._repr_html_() and "ReLU is ahead of tanh" in c._repr_html_()


def test_repeats_that_are_not_seeds_are_named_as_such():
    """Timings repeated with the same seed: the sentences, the table and the figure speak of runs."""
    c = cu.compare_runs({"threads": [5.0, 5.2, 5.1], "processes": [4.0, 4.2, 4.1]}, metric="images/s",
                        percent=False, repeat="run")
    assert c.verdict() == ("threads is ahead of processes on images/s: every run of threads beat every run of "
                           "processes (threads 5.1 (5–5.2, 3 runs); processes 4.1 (4–4.2, 3 runs)).")
    assert "within the run-to-run spread" in cu.compare_runs({"a": [1, 3], "b": [2, 4]}, repeat="run").verdict()
    assert "seed" not in c.summary() + str(c.table()) and c.table().loc["threads", "runs"] == 3
    axis = c.plot().axes[0]
    assert axis.get_title() == "images/s over runs"
    assert [t.get_text() for t in axis.get_legend().get_texts()] == ["range over runs", "mean", "one run"]
    with pytest.raises(ValueError, match="one word, e.g. 'seed' or 'run'"):
        cu.compare_runs({"a": [1, 2], "b": [1, 2]}, repeat="two runs")


@pytest.mark.parametrize("runs, match", [
    ({"a": [0.5]}, "at least two variants"),
    ({"a": [0.5], "b": []}, "has no runs"),
    ({"a": [0.5, float("nan")], "b": [0.4]}, "not a finite number"),
])
def test_bad_input_says_what_to_pass(runs, match):
    with pytest.raises(ValueError, match=match):
        cu.compare_runs(runs)


def test_unknown_variant_name():
    with pytest.raises(KeyError, match="no variant named 'c'"):
        cu.compare_runs({"a": [1, 2], "b": [1, 2]}).verdict("a", "c")
