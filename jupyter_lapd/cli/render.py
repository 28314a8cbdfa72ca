"""Text rendering for ``jupyter lapd``: the runs table, run details, and outputs as a log."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from ..models import parse_time
from ..outputs.streams import ELISION

Run = Mapping[str, Any]
Output = Mapping[str, Any]

# CSI sequences (colours, cursor moves) and OSC sequences (titles, hyperlinks).
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


class Glyphs:
    """Box-drawing characters where the stream can encode them, ASCII elsewhere."""

    def __init__(self, stream: TextIO) -> None:
        try:
            "█░─·".encode(stream.encoding or "ascii")
            fancy = True
        except (UnicodeEncodeError, LookupError):
            fancy = False
        self.full, self.empty = ("█", "░") if fancy else ("#", "-")
        self.rule, self.dot = ("─", "·") if fancy else ("-", "|")


def short_id(run: Run) -> str:
    return str(run["id"])[:8]


def progress(run: Run, glyphs: Glyphs, width: int = 10) -> str:
    done, total = int(run.get("cells_done") or 0), int(run.get("cells_total") or 0)
    filled = round(width * done / total) if total else 0
    return f"{done}/{total} {glyphs.full * filled}{glyphs.empty * (width - filled)}"


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def elapsed(run: Run, now: datetime | None = None) -> str:
    started = parse_time(run.get("started"))
    if started is None:
        return "-"
    finished = parse_time(run.get("finished")) or now or datetime.now(timezone.utc)
    return duration((finished - started).total_seconds())


def local_time(value: str | None) -> str:
    when = parse_time(value)
    if when is None:
        return "-"
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def _shorten(path: str, width: int = 48) -> str:
    return path if len(path) <= width else "..." + path[-(width - 3) :]


def home_relative(path: str) -> str:
    """``path`` with the home directory shown as ``~``."""
    home = os.path.expanduser("~")
    if home not in ("", "/", "~") and (path == home or path.startswith(home.rstrip("/") + "/")):
        return "~" + path[len(home.rstrip("/")) :]
    return path


def runs_table(runs: Sequence[Run], glyphs: Glyphs) -> str:
    """The runs as a table; runs of several servers (``list --all-servers``) carry a
    ``root`` each, shown in a last column."""
    now = datetime.now(timezone.utc)
    with_root = any("root" in run for run in runs)
    rows = [
        [
            short_id(run),
            _shorten(str(run["path"])),
            str(run["status"]),
            progress(run, glyphs),
            elapsed(run, now),
            local_time(run.get("started") or run.get("created")),
        ]
        + ([home_relative(str(run.get("root") or "-"))] if with_root else [])
        for run in runs
    ]
    header = ["ID", "NOTEBOOK", "STATUS", "PROGRESS", "ELAPSED", "STARTED"]
    return _table(header + (["ROOT"] if with_root else []), rows)


def run_details(run: Run, glyphs: Glyphs) -> str:
    kernel = f"{run.get('kernel_name') or '-'} ({run.get('kernel_mode')}"
    kernel += f", {run['kernel_id']})" if run.get("kernel_id") else ")"
    fields = [
        ("id", str(run["id"])),
        ("notebook", str(run["path"])),
        ("status", str(run["status"])),
        ("progress", progress(run, glyphs)),
        ("kernel", kernel),
        ("created", local_time(run.get("created"))),
        ("started", local_time(run.get("started"))),
        ("finished", local_time(run.get("finished"))),
        ("elapsed", elapsed(run)),
    ]
    if run.get("resumed_from"):
        fields.append(("resumes", str(run["resumed_from"])))
    if run.get("setup_cells"):
        fields.append(("setup", "reran " + ", ".join(str(c) for c in run["setup_cells"])))
    if run.get("current_cell_id"):
        fields.append(("running", str(run["current_cell_id"])))
    if run.get("error"):
        fields.append(("error", str(run["error"])))
    lines = [f"{name:<9} {value}" for name, value in fields]
    cells = run.get("cells") or []
    rows = []
    for position, cell in enumerate(cells, start=1):
        count = cell.get("execution_count")
        rows.append(
            [
                str(position),
                str(cell["id"]),
                str(cell["status"]),
                "-" if count is None else str(count),
                elapsed(cell) if cell.get("finished") else "-",
            ]
        )
    if rows:
        lines += ["", _table(["#", "CELL", "STATUS", "COUNT", "TIME"], rows)]
    return "\n".join(lines)


def summary(run: Run) -> str:
    """One line saying how a run ended (or where it stands)."""
    line = f"{short_id(run)} {run['status']}: {run.get('cells_done', 0)}/"
    line += f"{run.get('cells_total', 0)} cells in {elapsed(run)}"
    if run.get("error"):
        line += f" ({run['error']})"
    return line


def elided(outputs: Mapping[str, Sequence[Output]]) -> bool:
    """Whether a bounded stream (``c.Lapd.max_output_bytes``) left text out of ``outputs``."""
    return any(
        o.get("output_type") == "stream" and ELISION in str(o.get("text", ""))
        for cell in outputs.values()
        for o in cell
    )


def output_text(output: Output, keep_ansi: bool) -> str:
    """An nbformat output as terminal text; rich data becomes ``[mime/type]`` placeholders."""
    kind = output.get("output_type")
    if kind == "stream":
        text = output.get("text", "")
        text = "".join(text) if isinstance(text, list) else str(text)
    elif kind == "error":
        traceback = output.get("traceback") or []
        if traceback:
            text = "\n".join(str(line) for line in traceback) + "\n"
        else:
            text = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}\n"
    elif kind in ("display_data", "execute_result"):
        data = output.get("data") or {}
        lines = [f"[{mime}]" for mime in data if mime != "text/plain"]
        plain = data.get("text/plain")
        if plain is not None:
            lines.append("".join(plain) if isinstance(plain, list) else str(plain))
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    else:
        text = ""
    return text if keep_ansi else strip_ansi(text)


class LogWriter:
    """Writes a run's outputs as a log: a header line per cell, then its outputs.

    Fed either a snapshot (``logs``) or a snapshot followed by live events (``logs -f``);
    clears and display updates are not replayed, a log only grows.
    """

    def __init__(self, out: TextIO, keep_ansi: bool, glyphs: Glyphs) -> None:
        self._out = out
        self._keep_ansi = keep_ansi
        self._glyphs = glyphs
        self._positions: dict[str, int] = {}
        self._total = 0
        self._current: str | None = None
        self._at_line_start = True

    def snapshot(self, run: Run, outputs: Mapping[str, Sequence[Output]]) -> None:
        self.begin(run)
        for cell in run.get("cells") or []:
            shown = outputs.get(cell["id"], [])
            if cell["status"] in ("queued", "skipped") and not shown:
                continue
            self.cell(cell)
            for output in shown:
                self.output(output)

    def begin(self, run: Run) -> None:
        """Start the log of ``run`` (its cells numbered as in the run)."""
        self._learn(run)

    def cell(self, cell: Mapping[str, Any]) -> None:
        """The header of one of the run's cells, as it ended."""
        self._header(str(cell["id"]), str(cell["status"]), cell.get("execution_count"))

    def output(self, output: Output) -> None:
        """One output of the cell whose header came last (or a piece of a stream's text)."""
        self._write(output_text(output, self._keep_ansi))

    def event(self, event: Mapping[str, Any]) -> None:
        kind, cell_id = event.get("type"), event.get("cell_id")
        if kind == "snapshot":
            if "replay_from" not in event:  # a resumed stream repeats nothing
                self.snapshot(event["run"], event.get("outputs") or {})
        elif kind == "cell_start" and isinstance(cell_id, str):
            self._header(cell_id, "running", None)
        elif kind == "output" and isinstance(cell_id, str):
            if cell_id != self._current:
                self._header(cell_id, "running", None)
            self._write(output_text(event["output"], self._keep_ansi))

    def finish(self, run: Run) -> None:
        g = self._glyphs
        self._end_line()
        self._out.write(f"{g.rule * 2} run {summary(run)} {g.rule * 2}\n")
        self._out.flush()

    def _learn(self, run: Run) -> None:
        cells = run.get("cells") or []
        self._positions = {str(c["id"]): i for i, c in enumerate(cells, start=1)}
        self._total = len(cells)

    def _header(self, cell_id: str, status: str, count: int | None) -> None:
        g = self._glyphs
        self._end_line()
        position = self._positions.get(cell_id)
        where = f"cell {position}/{self._total}" if position else "cell"
        parts = [where, cell_id, status] + ([f"[{count}]"] if count is not None else [])
        self._out.write(f"{g.rule * 2} {f' {g.dot} '.join(parts)} {g.rule * 2}\n")
        self._out.flush()
        self._current = cell_id

    def _write(self, text: str) -> None:
        if text:
            self._out.write(text)
            self._out.flush()
            self._at_line_start = text.endswith("\n")

    def _end_line(self) -> None:
        if not self._at_line_start:
            self._out.write("\n")
            self._at_line_start = True


class Progress:
    """A run's progress on a stream: one line rewritten in place on a terminal, else a new
    line whenever it changes."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._glyphs = Glyphs(stream)
        self._shown = ""

    def show(self, run: Run) -> None:
        line = f"{short_id(run)} {run['status']} {progress(run, self._glyphs)}"
        if line != self._shown:
            self._stream.write("\r\x1b[K" + line if self._tty else line + "\n")
            self._stream.flush()
            self._shown = line

    def clear(self) -> None:
        if self._tty and self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
