"""Run and cell records, their statuses, and the domain errors shared by server and CLI."""

from __future__ import annotations

import copy
import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any


class RunStatus(str, Enum):
    """Lifecycle of a run; the values are the public strings of the REST API."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def active(self) -> bool:
        return self in (RunStatus.QUEUED, RunStatus.RUNNING)


class CellStatus(str, Enum):
    """State of one cell within a run."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"
    SKIPPED = "skipped"


class KernelMode(str, Enum):
    """Where a run's code executes: the notebook's own session kernel, or a fresh one."""

    SESSION = "session"
    NEW = "new"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def isoformat(when: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix, as Jupyter Server writes its own times."""
    if when is None:
        return None
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def new_run_id() -> str:
    return uuid.uuid4().hex


@dataclass
class CellRecord:
    """One cell of a run, matched to the notebook by its nbformat cell id."""

    id: str
    status: CellStatus = CellStatus.QUEUED
    execution_count: int | None = None
    started: datetime | None = None
    finished: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "execution_count": self.execution_count,
            "started": isoformat(self.started),
            "finished": isoformat(self.finished),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellRecord:
        return cls(
            id=data["id"],
            status=CellStatus(data["status"]),
            execution_count=data.get("execution_count"),
            started=parse_time(data.get("started")),
            finished=parse_time(data.get("finished")),
        )


@dataclass
class RunRecord:
    """A request to execute cells of one notebook, and everything known about its progress."""

    path: str
    cells: list[CellRecord]
    kernel_mode: KernelMode = KernelMode.SESSION
    kernel_name: str | None = None
    allow_errors: bool = False
    id: str = field(default_factory=new_run_id)
    status: RunStatus = RunStatus.QUEUED
    kernel_id: str | None = None
    created: datetime = field(default_factory=utcnow)
    started: datetime | None = None
    finished: datetime | None = None
    error: str | None = None
    # the run this one restarts (a rerun after a server restart, a headless --resume)
    resumed_from: str | None = None
    # cells a resumed run reran before the ones it resumes, for the kernel's state
    # (``--resume=from-failed``: tagged ``setup``, the parameter cells, ``--setup-cells``)
    setup_cells: list[str] = field(default_factory=list)
    # cell id -> position in `cells`, rebuilt when it no longer matches (never compared)
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def cells_total(self) -> int:
        return len(self.cells)

    @property
    def cells_done(self) -> int:
        finished = (CellStatus.DONE, CellStatus.ERROR)
        return sum(1 for cell in self.cells if cell.status in finished)

    @property
    def current_cell_id(self) -> str | None:
        for cell in self.cells:
            if cell.status == CellStatus.RUNNING:
                return cell.id
        return None

    def cell(self, cell_id: str) -> CellRecord:
        return self.cells[self.position(cell_id) - 1]

    def position(self, cell_id: str) -> int:
        """The cell's place in the run, from 1; looked up once per cell of a long run, so
        not a scan of the whole list each time."""
        at = self._index.get(cell_id)
        if at is None or at >= len(self.cells) or self.cells[at].id != cell_id:
            self._index = {cell.id: i for i, cell in enumerate(self.cells)}
            at = self._index.get(cell_id)
            if at is None:
                raise KeyError(cell_id)
        return at + 1

    def to_dict(self, with_cells: bool = True) -> dict[str, Any]:
        """The public JSON shape of a run (DESIGN.md), optionally without the cell list."""
        data: dict[str, Any] = {
            "id": self.id,
            "path": self.path,
            "status": self.status.value,
            "kernel_mode": self.kernel_mode.value,
            "kernel_id": self.kernel_id,
            "kernel_name": self.kernel_name,
            "allow_errors": self.allow_errors,
            "created": isoformat(self.created),
            "started": isoformat(self.started),
            "finished": isoformat(self.finished),
            "cells_total": self.cells_total,
            "cells_done": self.cells_done,
            "current_cell_id": self.current_cell_id,
            "error": self.error,
            "resumed_from": self.resumed_from,
            "setup_cells": list(self.setup_cells),
        }
        if with_cells:
            data["cells"] = [cell.to_dict() for cell in self.cells]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        return cls(
            id=data["id"],
            path=data["path"],
            cells=[CellRecord.from_dict(c) for c in data.get("cells", [])],
            kernel_mode=KernelMode(data.get("kernel_mode", "session")),
            kernel_name=data.get("kernel_name"),
            allow_errors=bool(data.get("allow_errors", False)),
            status=RunStatus(data["status"]),
            kernel_id=data.get("kernel_id"),
            created=parse_time(data.get("created")) or utcnow(),
            started=parse_time(data.get("started")),
            finished=parse_time(data.get("finished")),
            error=data.get("error"),
            resumed_from=data.get("resumed_from"),
            setup_cells=[str(c) for c in data.get("setup_cells") or []],
        )

    def copy(self) -> RunRecord:
        """A copy another thread can serialise while the run goes on. Saved several times a
        second, so the cells are copied shallowly (their fields are immutable values):
        ``dataclasses.replace`` per cell cost more than the rest of the save."""
        return dataclasses.replace(self, cells=[copy.copy(c) for c in self.cells])


class LapdError(Exception):
    """Base of the domain errors; ``status`` is the HTTP status the handlers answer with."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRunRequest(LapdError):
    """The request is malformed, names unknown cells, or the file is not a valid notebook."""

    status = 400


class PathForbidden(LapdError):
    """The path resolves outside the server's root directory."""

    status = 403


class NotebookNotFound(LapdError):
    status = 404


class RunNotFound(LapdError):
    status = 404


class RunConflict(LapdError):
    """A run is already active on the notebook."""

    status = 409


class StorageError(LapdError):
    """The runs database cannot take a write (locked, damaged, its disk full): a run it
    cannot record is not started, since nothing could recover it after a crash."""

    status = 503
