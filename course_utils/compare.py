"""Compare runs repeated over seeds, and say only what the spread between seeds allows.

A single run of each variant cannot rank them: another seed (other initial weights, another batch order)
moves a small run's accuracy by about as much as many of the differences we care about. So each variant
runs with several seeds, and a variant counts as ahead only when **every** one of its runs beat **every**
run of the other: their ranges (lowest to highest over the seeds) do not overlap. Otherwise the verdict is
"within the seed-to-seed spread", which is a result too.

(With 3 seeds each and no real difference, the ranges miss each other by chance in about 1 of 10
comparisons: all 3 runs of one variant above all 3 of the other has probability 2/20. The rule is strict on
purpose; more seeds make it both more sensitive and safer.)

The same rule ranks repeats of anything noisy, e.g. timings: ``repeat="run"`` makes the sentences speak of runs
instead of seeds.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


class Comparison:
    """Runs of several variants, each repeated over seeds; see :func:`compare_runs`."""

    def __init__(self, runs: Mapping[str, Sequence[float]], metric: str, higher_is_better: bool, percent: bool,
                 repeat: str = "seed"):
        if not (isinstance(repeat, str) and repeat.isalpha()):
            raise ValueError(f"repeat names one repeat of a variant in one word, e.g. 'seed' or 'run', got {repeat!r}")
        self.repeat, self.repeats = repeat, repeat + "s"
        if len(runs) < 2:
            raise ValueError(f"compare_runs needs at least two variants to compare, got {list(runs)}")
        self.runs: dict[str, np.ndarray] = {}
        for name, values in runs.items():
            array = np.asarray(list(values) if not hasattr(values, "__array__") else values, dtype=float).ravel()
            if array.size == 0:
                raise ValueError(f"variant {name!r} has no runs: pass one value per {repeat}, e.g. [0.55, 0.57, 0.56]")
            if not np.isfinite(array).all():
                raise ValueError(f"variant {name!r} has a value that is not a finite number: {array.tolist()}")
            self.runs[str(name)] = array
        self.metric, self.higher_is_better, self.percent = metric, higher_is_better, percent

    # -- numbers ---------------------------------------------------------------------------------------
    def mean(self, name: str) -> float:
        return float(self.runs[name].mean())

    def low_high(self, name: str) -> tuple[float, float]:
        return float(self.runs[name].min()), float(self.runs[name].max())

    @property
    def order(self) -> list[str]:
        """Variant names, best mean first."""
        return sorted(self.runs, key=self.mean, reverse=self.higher_is_better)

    @property
    def best(self) -> str:
        return self.order[0]

    def ahead(self, a: str, b: str) -> bool:
        """True when every run of ``a`` beat every run of ``b`` (their ranges do not overlap)."""
        if min(len(self.runs[a]), len(self.runs[b])) < 2:
            return False  # one run: the spread is unknown, so nothing is ahead
        if self.higher_is_better:
            return self.low_high(a)[0] > self.low_high(b)[1]
        return self.low_high(a)[1] < self.low_high(b)[0]

    # -- text ------------------------------------------------------------------------------------------
    def _fmt(self, value: float) -> str:
        return f"{100 * value:.1f}%" if self.percent else f"{value:.4g}"

    def describe(self, name: str) -> str:
        """``ReLU 56.2% (55.8–56.9%, 3 seeds)``."""
        low, high = self.low_high(name)
        n = len(self.runs[name])
        if n == 1:
            return f"{name} {self._fmt(self.mean(name))} (1 {self.repeat})"
        return (f"{name} {self._fmt(self.mean(name))} ({self._fmt(low).rstrip('%')}–{self._fmt(high)}, "
                f"{n} {self.repeats})")

    def verdict(self, a: str | None = None, b: str | None = None) -> str:
        """One sentence on ``a`` vs ``b`` (default: the best mean vs the second best)."""
        a, b = (a, b) if a and b else (self.order[0], self.order[1])
        for name in (a, b):
            if name not in self.runs:
                raise KeyError(f"no variant named {name!r}; the variants are {list(self.runs)}")
        if min(len(self.runs[a]), len(self.runs[b])) < 2:
            return (f"{self.describe(a)} vs {self.describe(b)}: with one run of a variant its spread over "
                    f"{self.repeats} is unknown, so this does not rank them. Run more {self.repeats}.")
        first, second = sorted((a, b), key=self.mean, reverse=self.higher_is_better)
        if self.ahead(first, second):
            return (f"{first} is ahead of {second} on {self.metric}: every {self.repeat} of {first} beat every "
                    f"{self.repeat} of {second} ({self.describe(first)}; {self.describe(second)}).")
        return (f"{first} and {second} are within the {self.repeat}-to-{self.repeat} spread on {self.metric}: "
                f"their ranges overlap ({self.describe(first)}; {self.describe(second)}).")

    def summary(self) -> str:
        """The best variant against each of the others, one sentence each."""
        best = self.best
        return "\n".join(self.verdict(best, other) for other in self.order[1:])

    def table(self):
        """A pandas DataFrame: one row per variant (best mean first), mean, lowest, highest, standard deviation."""
        import pandas as pd

        scale = 100 if self.percent else 1
        unit = " (%)" if self.percent else ""
        rows = []
        for name in self.order:
            values = self.runs[name]
            rows.append({"variant": name, self.repeats: len(values), f"mean{unit}": scale * values.mean(),
                         f"lowest{unit}": scale * values.min(), f"highest{unit}": scale * values.max(),
                         f"std{unit}": scale * values.std(ddof=1) if len(values) > 1 else math.nan})
        return pd.DataFrame(rows).set_index("variant").round(2)

    def plot(self, ax=None, title: str | None = None):
        """Each seed's value as a dot, each variant's range over seeds as a line and its mean as a bar across it:
        whether the ranges overlap is visible at a glance. (No bars from zero: the axis is zoomed on the runs.)"""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(1.8 + 1.2 * len(self.runs), 3.4))
        scale = 100 if self.percent else 1
        names = list(self.runs)
        for x, name in enumerate(names):
            values = scale * self.runs[name]
            ax.vlines(x, values.min(), values.max(), color="#9ecae1", linewidth=7,
                      label=f"range over {self.repeats}" if x == 0 else None)
            ax.hlines(values.mean(), x - 0.22, x + 0.22, color="#c0392b", linewidth=2, label="mean" if x == 0 else None)
            ax.scatter(np.full(len(values), x), values, color="#08306b", zorder=3, s=20,
                       label=f"one {self.repeat}" if x == 0 else None)
        ax.set_xticks(range(len(names)), names)
        ax.set_xlim(-0.6, len(names) - 0.4)
        low = min(scale * v.min() for v in self.runs.values())
        high = max(scale * v.max() for v in self.runs.values())
        margin = max(0.5 if self.percent else 1e-3, 0.15 * (high - low))
        ax.set_ylim(low - margin, high + margin)
        ax.set_ylabel(f"{self.metric} (%)" if self.percent else self.metric)
        ax.set_title(title or f"{self.metric} over {self.repeats}")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize="small", frameon=False)
        ax.grid(axis="y", alpha=0.3)
        ax.figure.tight_layout()
        return ax.figure

    def results(self, prefix: str = "") -> dict:
        """Flat numbers for ``show_results``: ``<name>_mean``, ``<name>_low``, ``<name>_high`` per variant."""
        out = {}
        for name, values in self.runs.items():
            key = prefix + "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
            out[f"{key}_mean"], out[f"{key}_low"], out[f"{key}_high"] = (float(values.mean()), float(values.min()),
                                                                         float(values.max()))
        return out

    def __repr__(self) -> str:
        return f"{self.table()}\n{self.summary()}"

    def _repr_html_(self) -> str:
        import html

        verdicts = "".join(f"<p>{html.escape(line)}</p>" for line in self.summary().splitlines())
        return self.table()._repr_html_() + verdicts


def compare_runs(runs: Mapping[str, Sequence[float]], *, metric: str = "test accuracy",
                 higher_is_better: bool = True, percent: bool = True, repeat: str = "seed") -> Comparison:
    """Compare variants that were each run with several seeds.

    ``runs`` maps a variant's name to its values, one per seed, e.g. ``{"ReLU": [0.56, 0.57, 0.55],
    "tanh": [0.55, 0.56, 0.56]}``. ``percent`` formats values in 0..1 as percentages; set
    ``higher_is_better=False`` for a loss or a time. ``repeat`` is the word for one repeat in the sentences,
    the table and the figure: ``"seed"``, or ``"run"`` for repeats that do not change the seed (timings). See the
    module docstring for the rule.
    """
    return Comparison(runs, metric, higher_is_better, percent, repeat)
