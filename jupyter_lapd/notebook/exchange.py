"""Swap two paths in one step (Linux's ``renameat2(RENAME_EXCHANGE)``).

A rename replaces whatever the target names at that instant: a user's save landing
between the run's last look at the notebook and its rename would be overwritten, and
lost. Swapping instead leaves the displaced file at the temporary name, where the writer
checks that it is the file it merged from, and merges it again if it is not.
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2

_renameat2: Any
try:
    _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
except (AttributeError, OSError):  # not Linux, or a C library older than glibc 2.28
    _renameat2 = None

# what says the system or the file system cannot swap (NFS, some FUSE file systems)
_CANNOT = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM}


def exchange(a: str, b: str) -> bool:
    """Swap the files at ``a`` and ``b`` atomically; False where this system cannot (or
    ``b`` does not exist), and nothing changed then."""
    if _renameat2 is None:
        return False
    done = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if done == 0:
        return True
    err = ctypes.get_errno()
    if err in _CANNOT or err == errno.ENOENT:
        return False
    raise OSError(err, os.strerror(err), b)
