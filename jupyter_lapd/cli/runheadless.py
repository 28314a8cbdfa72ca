"""The headless half of ``jupyter lapd run``: its options, its progress display, its exit.

``RunCommand`` (cli/main.py) inherits from ``HeadlessCommand``, so one ``run`` subcommand takes
both the server options and these; with ``--headless`` no server is involved at all.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from traitlets import Bool, Float, Int, TraitError, Unicode

from ..models import CellRecord, LapdError, RunRecord
from ..notebook.parameters import check_name, parse_value
from . import render
from .basecommand import LapdCommand, UsageError, print_error

if TYPE_CHECKING:
    from ..headless.options import HeadlessOptions

# the engine (nbformat, nbclient, jupyter_client) is imported only when a headless run
# starts: `jupyter lapd list` must not pay for it

HEADLESS_USAGE = (
    "jupyter lapd run PATH --headless [--resume[=from-start|from-failed]] "
    "[--setup-cells ID,..] [--retries N] [--cells ID,..] [--kernel-name NAME] "
    "[--timeout SECONDS] [--output OUT.ipynb] [-p NAME VALUE ...] [--db-path FILE] "
    "[--on-sigterm interrupt|stop] [--grace SECONDS] [--allow-errors]"
)

HEADLESS_HELP = """With --headless, no server: this process starts a kernel in the
notebook's folder, runs the cells, and writes every output into the file as it arrives
(within 1 s, c.Lapd.flush_interval), journaling it in a hidden SQLite file beside the
notebook (.NAME.ipynb.lapd.db; --db-path to put it elsewhere). --resume continues the
latest run of the notebook that did not complete (interrupted, failed, or cut off by a
killed process or container): from-start (the default) reruns its cells on a fresh kernel,
from-failed only the cells from the first that did not finish, keeping the outputs of
those that did, after rerunning the setup cells that rebuild the kernel's state (cells
tagged setup, parameters or injected-parameters, and those named by --setup-cells); with
nothing to resume it starts a new run.
--retries N starts a new attempt after the kernel dies, up to N times. -p (or
--parameter) NAME VALUE, repeatable, injects parameters as papermill does, in a cell tagged injected-parameters
after the cell tagged parameters; VALUE is a Python int, float, bool, None or quoted str
literal, else a string. --output copies the notebook there first and runs the copy.
--timeout limits each cell. On SIGTERM (a preempted machine's notice, a Kubernetes pod
being stopped), --on-sigterm=interrupt (the default) first interrupts the kernel, so that
the running cell sees KeyboardInterrupt and can save a checkpoint, and waits for the cell
to end; --on-sigterm=stop stops at once. Either way the file is written and the process
exits within --grace seconds (default 25). Progress goes to stdout: one bar on a terminal,
else a line per cell.

Exit codes with --headless: 0 every cell ran; 1 a cell failed or timed out, or the file
could not be written; 2 usage error (a bad option, a missing or invalid notebook, an
unknown cell id or kernel, the notebook already being run by a live process); 138 the
kernel died (out of memory, a crash, os._exit) on the last attempt, the code papermill
uses, so a job can tell a crashed kernel from a failing cell; 130 / 143 stopped by SIGINT
/ SIGTERM, with the file written and the run marked interrupted (resume it with
--resume)."""


class HeadlessCommand(LapdCommand):
    """Options of ``run --headless``; they are refused without ``--headless``."""

    headless = Bool(False, config=True, help="Run here, with no server (see above).")
    resume = Unicode(
        "",
        config=True,
        help="Continue the latest run that did not complete: from-start (bare --resume) or "
        "from-failed. Give the mode with '=', as in --resume=from-failed.",
    )
    retries = Int(0, config=True, help="New attempts after a kernel death (default 0).")
    timeout = Int(
        None, allow_none=True, config=True, help="Seconds each cell may run (default: no limit)."
    )
    output = Unicode(config=True, help="Run a copy written to this .ipynb (default: in place).")
    headless_db = Unicode(
        config=True, help="Journal database (default: .NAME.ipynb.lapd.db beside the notebook)."
    )
    setup_cells = Unicode(
        config=True,
        help="Comma-separated ids of cells --resume=from-failed reruns first, besides the "
        "cells tagged setup, parameters or injected-parameters.",
    )
    on_sigterm = Unicode(
        "interrupt",
        config=True,
        help="On SIGTERM: 'interrupt' (default) interrupts the kernel and lets the running "
        "cell end; 'stop' stops the run at once. Either way within --grace.",
    )
    grace = Float(
        25.0,
        config=True,
        help="Seconds from SIGTERM to the exit, the file written (default 25; a Kubernetes "
        "pod's terminationGracePeriodSeconds is 30).",
    )
    parameters: list[tuple[str, Any]]

    def parse_command_line(self, argv: Any = None) -> None:
        """Take out ``-p NAME VALUE`` (two values, which traitlets cannot express) and read
        a bare ``--resume`` as ``--resume=from-start``."""
        args = list(sys.argv[1:] if argv is None else argv)
        rest: list[str] = []
        self.parameters = []
        i = 0
        while i < len(args):
            token = args[i]
            if token == "--":
                rest += args[i:]
                break
            if token in ("-p", "--parameter"):
                if i + 2 >= len(args):
                    raise UsageError(f"option {token} needs a NAME and a VALUE")
                name, value = args[i + 1], args[i + 2]
                try:
                    self.parameters.append((check_name(name), parse_value(value)))
                except LapdError as e:
                    raise UsageError(f"{token}: {e.message}") from None
                i += 3
                continue
            rest.append("--resume=from-start" if token == "--resume" else token)
            i += 1
        super().parse_command_line(rest)

    def check_headless(self) -> None:
        """Refuse options that only make sense on the other side of ``--headless``."""
        if not self.headless:
            given = {
                "--resume": self.resume,
                "--retries": self.retries,
                "--timeout": self.timeout is not None,
                "--output": self.output,
                "--db-path": self.headless_db,
                "-p": self.parameters,
                "--setup-cells": self.setup_cells,
                "--on-sigterm": "on_sigterm" in self.config.RunCommand,
                "--grace": "grace" in self.config.RunCommand,
            }
            for option, value in given.items():
                if value:
                    raise UsageError(f"{option} needs --headless (a run with no server)")
            return
        from ..run.resume import RESUME_MODES

        if self.resume and self.resume not in RESUME_MODES:
            modes = " or ".join(RESUME_MODES)
            raise UsageError(f"--resume must be {modes}, not {self.resume!r}")
        if self.setup_cells and self.resume != "from-failed":
            raise UsageError("--setup-cells needs --resume=from-failed")
        if self.on_sigterm not in ("interrupt", "stop"):
            raise UsageError(f"--on-sigterm must be interrupt or stop, not {self.on_sigterm!r}")
        if self.grace <= 0:
            raise UsageError("--grace must be a positive number of seconds")
        if self.retries < 0:
            raise UsageError("--retries must be 0 or more")
        if self.timeout is not None and self.timeout <= 0:
            raise UsageError("--timeout must be a positive number of seconds")
        if self.config.RunCommand.get("kernel", "new") != "new":
            raise UsageError(
                "--headless always starts a fresh kernel: --kernel session needs a server"
            )

    def headless_options(self, cells: str, kernel_name: str, allow_errors: bool) -> HeadlessOptions:
        from ..config import RunSettings
        from ..headless.options import HeadlessOptions

        try:
            settings = RunSettings.from_config(self.config)
            flush_interval = float(settings.flush_interval)
            ipython_hist_file = str(settings.ipython_hist_file)
            freeze = bool(settings.freeze_startup_objects)
            store_widget_state = bool(settings.store_widget_state)
        except TraitError as e:
            raise UsageError(f"bad configuration: {e}") from None
        selection = None
        if cells:
            selection = _ids(cells, "--cells")
        setup = _ids(self.setup_cells, "--setup-cells") if self.setup_cells else []
        return HeadlessOptions(
            notebook=self.extra_args[0],
            output=self.output or None,
            db_path=self.headless_db or None,
            cells=selection,
            kernel_name=kernel_name or None,
            parameters=list(self.parameters),
            resume=self.resume or None,
            setup_cells=setup,
            on_sigterm=self.on_sigterm,
            grace=self.grace,
            retries=self.retries,
            timeout=self.timeout,
            allow_errors=allow_errors,
            flush_interval=flush_interval,
            ipython_hist_file=ipython_hist_file,
            freeze_startup_objects=freeze,
            store_widget_state=store_widget_state,
        )

    async def run_headless(self, options: HeadlessOptions) -> int:
        from ..headless.headlessrun import HeadlessRun
        from ..headless.options import EXIT_KERNEL_DIED

        progress = HeadlessProgress(sys.stdout)
        try:
            code = await HeadlessRun(options, progress, log=self.log).execute()
        except LapdError as e:  # bad input, found before anything changed
            progress.note(e.message)
            return 2
        if code == EXIT_KERNEL_DIED:
            progress.note(
                f"the kernel died (out of memory? a crash? os._exit?): exit code {code}"
                + (f" after {options.retries + 1} attempts" if options.retries else "")
            )
        return code


def _ids(text: str, option: str) -> list[str]:
    ids = [c.strip() for c in text.split(",") if c.strip()]
    if not ids:
        raise UsageError(f"{option} needs at least one cell id")
    return ids


class HeadlessProgress:
    """A headless run's progress: on a terminal one line redrawn in place, cells done of
    the total, the running cell and the time so far; elsewhere (a container's log) a
    plain line per finished cell, which log collectors keep intact."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._tty = out.isatty()
        self._glyphs = render.Glyphs(out)
        self._since = time.monotonic()
        self._shown = ""

    def note(self, message: str) -> None:
        self._clear()
        print_error(message)

    def started(self, record: RunRecord, attempt: int) -> None:
        self._since = time.monotonic()
        what = f"attempt {attempt}, " if attempt > 1 else ""
        if record.resumed_from:
            what += f"resuming {record.resumed_from[:8]}, "
        if record.setup_cells:
            count = len(record.setup_cells)
            what += f"{count} setup cell{'s' if count != 1 else ''} first, "
        cells = f"{record.cells_total} cell{'s' if record.cells_total != 1 else ''}"
        self._line(f"{render.short_id(record.to_dict(False))} {record.path}: {what}{cells}")

    def progress(self, record: RunRecord) -> None:
        if not self._tty:
            return
        run = record.to_dict(with_cells=False)
        current, done = record.current_cell_id, record.cells_done
        if current:
            doing = f"cell {current}"
        else:
            doing = "finishing" if done == record.cells_total else "" if done else "starting"
        parts = [render.progress(run, self._glyphs), doing, self._glyphs.dot]
        parts.append(render.duration(time.monotonic() - self._since))
        line = " ".join(part for part in parts if part)
        if line != self._shown:
            self._out.write("\r\x1b[K" + line)
            self._out.flush()
            self._shown = line

    def cell_ended(self, record: RunRecord, cell: CellRecord) -> None:
        if self._tty:
            return
        position = record.position(cell.id)
        took = ""
        if cell.started and cell.finished:
            took = f" ({(cell.finished - cell.started).total_seconds():.1f} s)"
        self._line(f"[{position}/{record.cells_total}] cell {cell.id} {cell.status.value}{took}")

    def ended(self, record: RunRecord) -> None:
        self._line(render.summary(record.to_dict(with_cells=False)))

    def _line(self, text: str) -> None:
        self._clear()
        self._out.write(text + "\n")
        self._out.flush()

    def _clear(self) -> None:
        if self._shown:
            self._out.write("\r\x1b[K")
            self._out.flush()
            self._shown = ""


__all__ = ["HEADLESS_HELP", "HEADLESS_USAGE", "HeadlessCommand", "HeadlessProgress"]
