"""glibc's malloc arenas, capped for runs: native readers' threads otherwise hoard memory.

connectorx (Rust) starts fresh threads for every statement it reads, and glibc gives a
new thread an arena of its own (up to eight per core); memory freed in an arena is kept
there for reuse, not returned to the system. A 10M-row MariaDB read in key-ordered
chunks peaked at 268 MB with glibc's default and at 167 MB with two arenas, the cap many
long-running services set (MALLOC_ARENA_MAX=2). A MALLOC_ARENA_MAX of the environment
wins; on a C library without mallopt's M_ARENA_MAX (musl, macOS) nothing changes.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


@functools.cache
def cap_malloc_arenas() -> bool:
    """Cap the arenas of threads started from now on; whether the cap took effect."""
    if not sys.platform.startswith("linux") or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, ARENAS))
