"""Notebook 10's training script, launched with torchrun: 2 gloo processes on the CPU, tiny data.

The script is the notebook's ``%%writefile ddp_train.py`` cell (a notebook on Colab arrives without the repository,
so the script lives in the notebook). The tests check what the notebook teaches, from the results the script
writes: DDP's step equals one process's step on the whole batch (and per-rank BatchNorm's does not), every epoch's
shards are exactly DistributedSampler's, and a rank that crashes or hangs makes the run fail with an error that
names it, within a timeout, instead of hanging.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from torch.utils.data import DistributedSampler

from tools import nbkit
from tools.paths import NOTEBOOK_DIR, REPO

NOTEBOOK = NOTEBOOK_DIR / "10_distributed_data_parallel.ipynb"
TRAIN_IMAGES = 301  # odd: 2 ranks need 1 image of padding per epoch
GLOBAL_BATCH = 32
LAUNCH_TIMEOUT_S = 300  # a whole torchrun launch; the collectives inside have their own --timeout


def script_source() -> str:
    cell = nbkit.find_cell(nbkit.read(NOTEBOOK), r"^%%writefile")
    first, body = nbkit.source(cell).split("\n", 1)
    assert first.split() == ["%%writefile", "ddp_train.py"], f"unexpected magic line {first!r}"
    return body if body.endswith("\n") else body + "\n"  # %%writefile ends the file with a newline


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ddp") / "ddp_train.py"
    path.write_text(script_source())
    return path


def torchrun(script: Path, processes: int, *args, timeout: float = LAUNCH_TIMEOUT_S) -> tuple[int, str]:
    """Run the script with torchrun; return (exit code, output). A launch that outlives ``timeout`` fails the test."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               str(script), *map(str, args)]
    with subprocess.Popen(command, cwd=script.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.terminate()  # torchrun stops its workers on SIGTERM
            try:
                output, _ = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
            pytest.fail(f"torchrun did not finish within {timeout} s (a rank hangs?); output:\n{output[-4000:]}")
    return process.returncode, output


def tiny_job(folder: Path, name: str, **changes) -> list:
    settings = {"epochs": 2, "train-images": TRAIN_IMAGES, "test-images": 100, "global-batch": GLOBAL_BATCH,
                "device": "cpu", "threads": 1, "timeout": 60, "out": folder / f"{name}.json", **changes}
    return [item for key, value in settings.items() for item in (f"--{key}", value)]


def root_cause(output: str) -> str:
    """torchrun's summary of the first failure (rank, exit code, traceback)."""
    marker = "Root Cause (first observed failure)"
    assert marker in output, f"no failure summary in torchrun's output:\n{output[-4000:]}"
    return output[output.index(marker):]


@pytest.fixture(scope="module")
def two_ranks(script):
    code, output = torchrun(script, 2, *tiny_job(script.parent, "two_ranks"))
    assert code == 0, f"torchrun with 2 gloo processes failed (exit code {code}):\n{output[-4000:]}"
    return json.loads((script.parent / "two_ranks.json").read_text())


def test_two_gloo_processes_know_their_ranks(two_ranks):
    assert (two_ranks["world_size"], two_ranks["backend"], two_ranks["device"]) == (2, "gloo", "cpu")
    env = [r["environment"] for r in two_ranks["ranks"]]
    assert [e["RANK"] for e in env] == ["0", "1"] and [e["LOCAL_RANK"] for e in env] == ["0", "1"]
    assert {e["WORLD_SIZE"] for e in env} == {"2"} and len({e["MASTER_PORT"] for e in env}) == 1
    assert len({e["pid"] for e in env}) == 2, "two separate processes"
    assert two_ranks["per_rank_batch"] * 2 == two_ranks["global_batch"] == GLOBAL_BATCH


def test_ddp_step_equals_one_process_on_the_whole_batch(two_ranks):
    for rank, r in enumerate(two_ranks["ranks"]):
        checks = r["equivalence"]
        for norm in ("none", "syncbatchnorm"):
            assert checks[norm]["max_change"] > 1e-4, f"rank {rank}, {norm}: the step should change the weights"
            assert checks[norm]["max_difference"] < 1e-9 * checks[norm]["max_change"], (
                f"rank {rank}, {norm}: DDP's step differs from one process's step on the whole batch: {checks[norm]}")
        # the negative control: per-rank BatchNorm normalizes each half batch with its own statistics
        assert checks["batchnorm"]["max_difference"] > 1e-4 * checks["batchnorm"]["max_change"], (
            f"rank {rank}: per-rank BatchNorm should give a measurably different step: {checks['batchnorm']}")


def test_distributed_sampler_shards_every_epoch(two_ranks):
    n = two_ranks["train_images"]
    assert n == TRAIN_IMAGES
    shards = {e: [r["sampler_indices"][e] for r in two_ranks["ranks"]] for e in ("0", "1")}
    for epoch, (rank0, rank1) in shards.items():
        counts = Counter(rank0 + rank1)
        assert set(counts) == set(range(n)), f"epoch {epoch}: every training image must be seen"
        assert sorted(Counter(counts.values()).items()) == [(1, n - 1), (2, 1)], (
            f"epoch {epoch}: each image once, apart from 1 image of padding (301 images on 2 ranks)")
        assert len(rank0) == len(rank1) == (n + 1) // 2, "both ranks get the same number of images"
        assert len(set(rank0) & set(rank1)) == 1, "the shards overlap only in the padding"
        for rank, seen in enumerate((rank0, rank1)):  # the training loop consumed exactly the sampler's shard
            sampler = DistributedSampler(range(n), num_replicas=2, rank=rank, shuffle=True, seed=0)
            sampler.set_epoch(int(epoch))
            assert seen == list(sampler), f"epoch {epoch}, rank {rank}: not DistributedSampler's shard"
    assert shards["0"][0] != shards["1"][0], "set_epoch must reshuffle between epochs"


def test_the_step_is_timed_in_parts(two_ranks):
    """Section 9's breakdown: forward + backward alone, the whole DDP step, an all-reduce of the gradients' size."""
    times = two_ranks["step_seconds"]
    assert set(times) == {"step", "compute", "all_reduce"} and min(times.values()) > 0, times
    assert max(times.values()) < 60, f"one step of {GLOBAL_BATCH // 2} images per rank cannot take a minute: {times}"


def test_every_rank_ends_with_rank_0s_weights(two_ranks, script):
    assert (script.parent / "two_ranks.pt").is_file(), "rank 0 saves the weights next to the results (--out, .pt)"
    ranks = two_ranks["ranks"]
    assert ranks[0]["weight_sum_before_ddp"] != ranks[1]["weight_sum_before_ddp"], "seeds per rank: different init"
    assert ranks[1]["weight_sum_after_ddp"] == ranks[0]["weight_sum_before_ddp"], "DDP broadcasts rank 0's weights"
    for rank, r in enumerate(ranks):
        assert r["same_as_checkpoint"] == {"parameters": True, "buffers": True}, (
            f"rank {rank} does not hold the weights rank 0 saved: {r['same_as_checkpoint']}")


def test_training_learns(two_ranks):
    losses = two_ranks["history"]["train_loss"]
    assert losses[1] < losses[0], f"the training loss should fall between the epochs: {losses}"
    assert two_ranks["test_accuracy"] > 0.1, "above chance (10%) on the test images"


def test_a_crashing_rank_fails_the_run_with_its_error(script):
    code, output = torchrun(script, 2, *tiny_job(script.parent, "crash", epochs=1, **{"fail-rank": 1}))
    assert code != 0, "a rank that raised an error must make torchrun fail"
    cause = root_cause(output)
    assert re.search(r"rank\s*:\s*1\b", cause) and "simulated failure on rank 1 at step 2" in cause, cause


def test_a_hanging_rank_fails_the_run_after_the_collective_timeout(script):
    """Rank 1 stops responding at step 2: rank 0's all-reduce times out (--timeout) and the run ends with that error."""
    code, output = torchrun(script, 2, *tiny_job(script.parent, "hang", epochs=1, timeout=20,
                                                 **{"fail-rank": 1, "fail-mode": "hang"}))
    assert code != 0, "a hanging rank must make the run fail, not hang"
    cause = root_cause(output)
    assert re.search(r"rank\s*:\s*0\b", cause) and "in train" in cause, f"rank 0 should fail while training:\n{cause}"
    assert "timed out" in cause.lower(), f"rank 0 should report a timeout:\n{cause}"


def test_script_is_ruff_clean():
    """ruff skips %%writefile cells when it lints the notebook, so the script is linted here, as a repository file."""
    repo = REPO
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--stdin-filename", "notebooks/ddp_train.py", "-"],
                            input=script_source(), capture_output=True, text=True, cwd=repo, timeout=120)
    assert result.returncode == 0, f"ruff finds problems in the %%writefile script:\n{result.stdout}{result.stderr}"
