"""The runs' stream files: what the journal's long texts cost the machine's memory."""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
from pathlib import Path

import pytest

from jupyter_lapd.journal.streamfiles import StreamFiles

MiB = 1024 * 1024

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="mincore and posix_fadvise as Linux has them"
)


def resident(path: str, length: int) -> int:
    """Bytes of the first ``length`` of a file that the page cache holds (mincore)."""
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), length, access=mmap.ACCESS_COPY)
    try:
        pages = (length + mmap.PAGESIZE - 1) // mmap.PAGESIZE
        vec = (ctypes.c_ubyte * pages)()
        start = ctypes.c_char.from_buffer(mapped)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        if libc.mincore(ctypes.addressof(start), length, vec) != 0:
            raise OSError(ctypes.get_errno(), "mincore")
        del start
        return sum(v & 1 for v in vec) * mmap.PAGESIZE
    finally:
        mapped.close()


def written_out(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def test_pages_already_on_disk_are_let_go_of_at_the_next_append(tmp_path: Path) -> None:
    """A gigabyte printed would otherwise hold a gigabyte of the page cache."""
    control = tmp_path / "control"
    control.write_bytes(b"c" * MiB)
    written_out(str(control))
    fd = os.open(control, os.O_RDONLY)
    os.posix_fadvise(fd, 0, MiB, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    if resident(str(control), MiB) == MiB:
        pytest.skip("this filesystem keeps files in memory (tmpfs)")

    files = StreamFiles(str(tmp_path / "streams"))
    first, second = "a" * (8 * MiB), "b" * MiB
    files.append("r1", [first])
    written_out(files.path("r1"))  # as the kernel's writeback would, sooner or later
    files.append("r1", [second])
    assert resident(files.path("r1"), 8 * MiB) == 0
    assert files.read("r1", [(0, 8 * MiB), (8 * MiB, MiB)]) == [first, second]  # from disk
