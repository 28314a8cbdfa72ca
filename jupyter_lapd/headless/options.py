"""What a headless run is asked to do (``HeadlessOptions``), where it tells its progress
(``Reporter``, drawn by the CLI) and the exit codes it ends with."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import MEMORY
from ..models import CellRecord, RunRecord
from ..run.stopnotice import INTERRUPT

# Exit codes of `jupyter lapd run --headless` (2, usage, is the CLI's own).
EXIT_OK, EXIT_FAILED, EXIT_KERNEL_DIED = 0, 1, 138  # 138: papermill's code for a dead kernel
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal, as shells do


@dataclass
class HeadlessOptions:
    """What `jupyter lapd run --headless` was asked to do (paths as given, validated here)."""

    notebook: str
    output: str | None = None
    db_path: str | None = None
    cells: list[str] | None = None
    kernel_name: str | None = None
    parameters: list[tuple[str, Any]] = field(default_factory=list)
    resume: str | None = None  # None: always a new run; else one of resume.RESUME_MODES
    setup_cells: list[str] = field(default_factory=list)  # rerun first by from-failed
    on_sigterm: str = INTERRUPT  # or STOP: what SIGTERM does to a running cell
    grace: float = 25.0  # seconds from SIGTERM to the exit
    retries: int = 0
    timeout: int | None = None
    allow_errors: bool = False
    flush_interval: float = 1.0
    ipython_hist_file: str = MEMORY  # c.Lapd.ipython_hist_file
    freeze_startup_objects: bool = True  # c.Lapd.freeze_startup_objects
    store_widget_state: bool = True  # c.Lapd.store_widget_state


class Reporter(Protocol):
    """Where a headless run tells its progress; the CLI draws it, nothing here prints."""

    def note(self, message: str) -> None: ...
    def started(self, record: RunRecord, attempt: int) -> None: ...
    def progress(self, record: RunRecord) -> None: ...
    def cell_ended(self, record: RunRecord, cell: CellRecord) -> None: ...
    def ended(self, record: RunRecord) -> None: ...
