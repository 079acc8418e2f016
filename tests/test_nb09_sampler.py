"""Notebook 09's batch sampler, run from the notebook's own cell: whole-epoch promises, and where it runs.

The sampler is written in the notebook (there is no package copy), so these tests execute its cell with
``nbkit.exec_cells`` and check what it promises over whole epochs, for pool and batch sizes the notebook's
run modes do not reach. Broken variants (negative controls) show that each check can fail.
"""
from __future__ import annotations

import math
import multiprocessing
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tools import nbkit
from tools.paths import NOTEBOOK_DIR

NOTEBOOK = NOTEBOOK_DIR / "09_semi_supervised_sampler.ipynb"


@pytest.fixture(scope="module")
def sampler_class():
    namespace = nbkit.exec_cells(NOTEBOOK, [r"^RUN_MODE = None", r"^import itertools", r"^class TwoPoolBatchSampler"])
    return namespace["TwoPoolBatchSampler"]


def pools(num_labeled, num_unlabeled, seed=0):
    """Labeled and unlabeled indices scattered over 0..num_labeled+num_unlabeled-1."""
    order = np.random.default_rng(seed).permutation(num_labeled + num_unlabeled)
    return np.sort(order[:num_labeled]), np.sort(order[num_labeled:])


def epoch_problems(batches, labeled, unlabeled, batch_size):
    """What is wrong with one epoch of batches (an empty list when nothing is)."""
    problems = []
    labeled_set = set(labeled.tolist())
    counts = np.zeros(len(labeled) + len(unlabeled), dtype=int)
    kinds = []
    for batch in batches:
        flags = {i in labeled_set for i in batch}
        if len(flags) != 1:
            problems.append(f"mixed batch {batch}")
        if not 1 <= len(batch) <= batch_size:
            problems.append(f"batch of {len(batch)} indices (batch_size {batch_size})")
        counts[batch] += 1
        kinds.append(next(iter(flags)) if flags else None)
    if not (counts == 1).all():
        problems.append(f"{int((counts == 0).sum())} indices missed, {int((counts > 1).sum())} repeated")
    num_l, num_u = math.ceil(len(labeled) / batch_size), math.ceil(len(unlabeled) / batch_size)
    if kinds.count(True) != num_l or kinds.count(False) != num_u:
        problems.append(f"{kinds.count(True)} labeled and {kinds.count(False)} unlabeled batches, "
                        f"expected {num_l} and {num_u}")
    for kind, mine, other in ((True, num_l, num_u), (False, num_u, num_l)):
        gaps = np.diff([i for i, k in enumerate(kinds) if k is kind])  # positions between batches of this kind
        ratio = other / mine
        if len(gaps) and (gaps.min() < math.floor(ratio) + 1 or gaps.max() > math.ceil(ratio) + 1):
            problems.append(f"{'labeled' if kind else 'unlabeled'} batches not spread evenly: gaps "
                            f"{gaps.min()}..{gaps.max()}, ratio {ratio:.2f}")
    return problems


def sampler_problems(cls, num_labeled, num_unlabeled, batch_size, seed=0, epochs=4):
    """Everything the notebook's self-check promises, over several epochs."""
    labeled, unlabeled = pools(num_labeled, num_unlabeled)
    sampler = cls(labeled, unlabeled, batch_size, seed=seed)
    runs = [list(sampler) for _ in range(epochs)]
    problems = [f"epoch {e}: {p}" for e, batches in enumerate(runs) for p in epoch_problems(batches, labeled, unlabeled,
                                                                                            batch_size)]
    if any(len(batches) != len(sampler) for batches in runs):
        problems.append(f"len(sampler) = {len(sampler)}, epochs have {[len(b) for b in runs]} batches")
    twin = cls(labeled, unlabeled, batch_size, seed=seed)
    if [list(twin) for _ in range(epochs)] != runs:
        problems.append("the same seed gave other epochs")
    if any(runs[e] == runs[e + 1] for e in range(epochs - 1)):
        problems.append("two successive epochs in the same order")
    if list(cls(labeled, unlabeled, batch_size, seed=seed + 1)) == runs[0]:
        problems.append("another seed gave the same order")
    return problems


SIZES = [(10, 90, 4), (11, 92, 4), (3, 100, 8), (50, 50, 7), (90, 10, 3), (5, 7, 16), (600, 5400, 64)]


@pytest.mark.parametrize("num_labeled, num_unlabeled, batch_size", SIZES)
def test_notebook_sampler_keeps_its_promises(sampler_class, num_labeled, num_unlabeled, batch_size):
    assert sampler_problems(sampler_class, num_labeled, num_unlabeled, batch_size) == []


def test_notebook_sampler_len_and_counts(sampler_class):
    sampler = sampler_class(*pools(11, 92), batch_size=4)
    assert (sampler.num_labeled_batches, sampler.num_unlabeled_batches, len(sampler)) == (3, 23, 26)


def broken_variants(cls):
    """Samplers that break one promise each: every one must be caught by sampler_problems."""

    class DropsLastPartialBatch(cls):
        def __iter__(self):
            return (b for b in super().__iter__() if len(b) == self.batch_size)

    class SameOrderEveryEpoch(cls):
        def __iter__(self):
            if not hasattr(self, "first_epoch"):
                self.first_epoch = list(super().__iter__())
            return iter(self.first_epoch)

    class LabeledBatchesFirst(cls):
        def __iter__(self):
            labeled = set(self.pools[0].tolist())
            return iter(sorted(super().__iter__(), key=lambda batch: batch[0] not in labeled))

    class MixesOneBatch(cls):
        def __iter__(self):
            batches = list(super().__iter__())
            labeled = set(self.pools[0].tolist())
            first_l = next(b for b in batches if b[0] in labeled)
            first_u = next(b for b in batches if b[0] not in labeled)
            first_l[0], first_u[0] = first_u[0], first_l[0]
            return iter(batches)

    class IgnoresSeed(cls):
        def __init__(self, labeled_indices, unlabeled_indices, batch_size, seed=0):
            super().__init__(labeled_indices, unlabeled_indices, batch_size, seed=0)

    class LenOffByOne(cls):
        def __len__(self):
            return super().__len__() + 1

    return {DropsLastPartialBatch: "missed", SameOrderEveryEpoch: "same order", LabeledBatchesFirst: "spread evenly",
            MixesOneBatch: "mixed batch", IgnoresSeed: "another seed", LenOffByOne: "len(sampler)"}


def test_negative_controls_are_caught(sampler_class):
    for broken, reason in broken_variants(sampler_class).items():
        seed = 1 if broken.__name__ == "IgnoresSeed" else 0  # it must differ from the variant's fixed seed 0
        problems = sampler_problems(broken, 11, 92, 4, seed=seed)
        assert any(reason in p for p in problems), f"{broken.__name__} not caught for its flaw ({reason!r}): {problems}"


def test_sampler_stays_in_the_main_process_with_spawn_workers(sampler_class):
    """A batch sampler whose class cannot be imported anywhere works with two spawn workers."""
    labeled, unlabeled = pools(30, 170)
    sampler = sampler_class(labeled, unlabeled, 16, seed=3)
    with pytest.raises((pickle.PicklingError, AttributeError, ModuleNotFoundError, TypeError)):
        pickle.dumps(sampler)  # control: the class lives in no importable module, so it cannot reach a worker
    loader = DataLoader(TensorDataset(torch.arange(200)), batch_sampler=sampler, num_workers=2,
                        multiprocessing_context=multiprocessing.get_context("spawn"))
    delivered = [indices.tolist() for (indices,) in loader]
    assert delivered == list(sampler_class(labeled, unlabeled, 16, seed=3)), \
        "the spawn workers deliver exactly the batches the sampler chose"
