"""The NumPy backend's allocator settings (glibc): applied once, observable through glibc, never forced."""

import os
import subprocess
import sys

import pytest

PROBE = """
import ctypes, numpy as np
import nmflab
from nmflab._malloc import tune_allocator
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
nmflab.nmf(np.random.default_rng(0).random((6, 5)), 2, max_iter=3, seed=0)  # a NumPy fit applies the settings
tuned = tune_allocator.cache_info().currsize == 1 and tune_allocator()
before = libc.mallinfo2().hblks
block = np.ones(20 * 2**20 // 8)  # 20 MiB: mapped under glibc's default threshold, from the heap when tuned
print(tuned, libc.mallinfo2().hblks - before)
"""


def _probe(**env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "NMFLAB_MALLOC"))}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env={**environment, **env}).stdout.split()
    return out[0] == "True", int(out[1])


def _glibc():
    try:
        import ctypes

        return sys.platform.startswith("linux") and hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not _glibc(), reason="glibc (Linux) only")
def test_a_numpy_fit_sets_the_thresholds_which_can_be_declined():
    assert _probe() == (True, 0)  # a 20 MiB block from the heap: the mmap threshold is 32 MiB
    assert _probe(NMFLAB_MALLOC="default") == (False, 1)  # glibc's own: the block is mapped
    assert _probe(MALLOC_TRIM_THRESHOLD_="1000000")[0] is False  # a user's own setting is never overridden
