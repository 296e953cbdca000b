"""The C allocator settings the NumPy backend runs with (glibc on Linux).

An iteration allocates and frees temporaries the size of ``V`` (``V / WH``,
``W H``). glibc adapts its thresholds as blocks are freed: depending on the
order in which a rule frees a large temporary and allocates its small
results, the freed block may be nibbled by the small ones and the next
temporary placed on fresh pages, or the top of the heap returned to the
system and taken back at the next iteration. Either way every iteration then
page-faults through its temporaries: the same arithmetic ran 2 to 2.5 times
slower after a change that only moved a ``free`` (benchmarks/NOTES.md).
Fixing the thresholds makes the speed independent of that order: blocks up
to 32 MiB come from the heap and are reused, and up to 128 MiB of free heap
is kept rather than returned and faulted back. Larger arrays are mapped
and unmapped as before.

Set ``NMFLAB_MALLOC=default`` to leave the allocator as it is; settings of
one's own (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ...) are
never overridden. Other C libraries (musl, macOS, Windows) are left alone.
"""

from __future__ import annotations

import functools
import os
import sys

__all__ = ["tune_allocator", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

#: Blocks below this size come from the heap (glibc's largest allowed value on 64-bit systems).
MMAP_THRESHOLD = 32 * 2**20
#: Free memory at the top of the heap kept for reuse before any is returned to the system.
TRIM_THRESHOLD = 128 * 2**20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
_OWN_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


@functools.cache
def tune_allocator() -> bool:
    """Fix glibc's mmap and trim thresholds for this process, once; True if they were set."""
    if os.environ.get("NMFLAB_MALLOC", "").lower() == "default" or any(name in os.environ for name in _OWN_SETTINGS):
        return False
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
