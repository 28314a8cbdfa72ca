"""NotebookWriter: merges a run's cells into the .ipynb on disk, atomically and throttled."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

import nbformat

from .models import isoformat
from .outputs import OutputModel

NBFORMAT_VERSION = 4


@dataclass
class CellState:
    """What a run owns in one cell: everything else in the file belongs to the user."""

    outputs: list[dict[str, Any]]
    execution_count: int | None
    execution: dict[str, Any]


@dataclass
class WriteResult:
    last_modified: str
    hash: str
    missing: set[str]
    present: set[str]
    seconds: float
    size: int


def cell_states(model: OutputModel) -> dict[str, CellState]:
    """What the run owns in each cell it has touched, as the file must hold it."""
    return {
        cell_id: CellState(
            outputs=model.outputs(cell_id),
            execution_count=model.execution_count(cell_id),
            execution=model.execution_metadata(cell_id),
        )
        for cell_id in model.cell_ids()
    }


def note_output(text: str) -> dict[str, Any]:
    """A line on stderr in a cell, saying what happened to the run there and when."""
    return {"output_type": "stream", "name": "stderr", "text": f"jupyter_lapd: {text}\n"}


def read_notebook(os_path: str) -> nbformat.NotebookNode:
    with open(os_path, encoding="utf-8") as f:
        return cast(nbformat.NotebookNode, nbformat.read(f, as_version=NBFORMAT_VERSION))


def _atomic_write(os_path: str, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: the path always names a whole file."""
    folder = os.path.dirname(os_path) or "."
    try:
        mode: int | None = os.stat(os_path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".~lapd-", suffix=".ipynb.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, os_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def merge_cells(nb: nbformat.NotebookNode, cells: dict[str, CellState]) -> set[str]:
    """Replace the run-owned fields of ``cells`` in ``nb``; return ids no longer in it."""
    by_id = {cell.get("id"): cell for cell in nb.cells}
    missing = set()
    for cell_id, state in cells.items():
        cell = by_id.get(cell_id)
        if cell is None or cell.cell_type != "code":
            missing.add(cell_id)
            continue
        cell.outputs = [nbformat.from_dict(o) for o in state.outputs]
        cell.execution_count = state.execution_count
        if state.execution:
            cell.metadata["execution"] = dict(state.execution)
        else:
            cell.metadata.pop("execution", None)
    return missing


def serialize(nb: nbformat.NotebookNode) -> bytes:
    """The bytes Jupyter itself would save, refusing a notebook that does not validate."""
    nbformat.validate(nb)  # raises: an invalid notebook never reaches the disk
    text: str = nbformat.v4.writes_json(nb)
    return (text if text.endswith("\n") else text + "\n").encode("utf-8")


def write_notebook(os_path: str, nb: nbformat.NotebookNode) -> None:
    _atomic_write(os_path, serialize(nb))


def write_cells(os_path: str, cells: dict[str, CellState]) -> WriteResult:
    """Re-read the notebook, merge the run's cells by id, and replace the file atomically.

    If the file changes while the merged copy is being prepared (a user's save), the merge
    is redone on the new content, so the user's edit is neither lost nor overwritten.
    """
    started = time.monotonic()
    for _attempt in range(3):
        before = os.stat(os_path).st_mtime_ns
        nb = read_notebook(os_path)
        missing = merge_cells(nb, cells)
        data = serialize(nb)
        if os.stat(os_path).st_mtime_ns == before:
            break
    _atomic_write(os_path, data)
    stat = os.stat(os_path)
    modified = datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc)
    return WriteResult(
        last_modified=isoformat(modified) or "",
        hash=hashlib.sha256(data).hexdigest(),
        missing=missing,
        present={c.get("id") for c in nb.cells if c.cell_type == "code"},
        seconds=time.monotonic() - started,
        size=len(data),
    )


Snapshot = Callable[[], tuple[int, dict[str, CellState]]]
OnWritten = Callable[[int, WriteResult], None]


class NotebookWriter:
    """Keeps one notebook file in step with a run, never more often than the file can bear.

    ``mark_dirty`` is cheap and called on every event. A write happens at most every
    ``interval`` seconds, where the interval grows to ``cost_factor`` times the duration of
    the last write so that writing a big notebook stays a small share of the run; a cell's
    end (``urgent``) writes as soon as that budget allows. The merge and the disk I/O run
    in a worker thread, off the server's event loop.
    """

    def __init__(
        self,
        os_path: str,
        snapshot: Snapshot,
        on_written: OnWritten,
        flush_interval: float = 1.0,
        cost_factor: float = 20.0,
        log: logging.Logger | None = None,
    ) -> None:
        self.os_path = os_path
        self._snapshot = snapshot
        self._on_written = on_written
        self.flush_interval = flush_interval
        self.cost_factor = cost_factor
        self._log = log or logging.getLogger(__name__)
        self._last_write = 0.0
        self._last_cost = 0.0
        self._dirty = False
        self._urgent = False
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.writes = 0
        self.bytes_written = 0
        self.error: Exception | None = None

    @property
    def interval(self) -> float:
        return max(self.flush_interval, self.cost_factor * self._last_cost)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"lapd-writer:{self.os_path}")

    def mark_dirty(self, urgent: bool = False) -> None:
        self._dirty = True
        self._urgent = self._urgent or urgent
        self._wake.set()

    async def close(self) -> None:
        """Write whatever is still pending, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def write_now(self) -> WriteResult | None:
        upto, cells = self._snapshot()
        self._dirty = self._urgent = False
        try:
            result = await asyncio.to_thread(write_cells, self.os_path, cells)
        except Exception as e:
            self.error = e
            self._log.error("jupyter_lapd: could not write %s: %s", self.os_path, e)
            return None
        self.error = None
        self._last_write = time.monotonic()
        self._last_cost = result.seconds
        self.writes += 1
        self.bytes_written += result.size
        self._on_written(upto, result)
        return result

    def _due(self) -> float:
        if self._urgent:
            # a cell's end goes out promptly, yet a burst of short cells still coalesces
            gap = max(self.flush_interval / 4, self.cost_factor * self._last_cost)
        else:
            gap = self.interval
        return self._last_write + gap

    async def _loop(self) -> None:
        while True:
            if not self._dirty:
                if self._closing:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            delay = self._due() - time.monotonic()
            if delay > 0 and not self._closing:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                    self._wake.clear()
                    continue  # re-evaluate: the write may have become urgent
                except asyncio.TimeoutError:
                    pass
            await self.write_now()
