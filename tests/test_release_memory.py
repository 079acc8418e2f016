"""cu.release_memory hands freed heap memory back to the operating system (Linux, glibc)."""
import sys

import numpy as np
import psutil
import pytest

import course_utils as cu


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim belongs to glibc (Linux)")
def test_freed_heap_memory_goes_back_to_the_system():
    # 4,000 arrays of 64 kB (below glibc's mmap threshold, so they live in the heap): 256 MB. One array allocated
    # after them stays alive, so the freed space is not at the top of the heap, where free() alone would return it.
    arrays = [np.ones(8_000) for _ in range(4_000)]
    keep = np.ones(8_000)
    del arrays
    before = psutil.Process().memory_info().rss
    after = cu.release_memory()
    assert abs(after - psutil.Process().memory_info().rss) < 2**20, "it returns the resident memory afterwards"
    assert before - after > 128 * 2**20, f"only {(before - after) / 2**20:.0f} MiB of 256 MB went back"
    assert keep.sum() == 8_000
