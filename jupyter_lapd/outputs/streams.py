"""Stream output text as Jupyter saves it: ``\\r`` and ``\\b`` applied, optionally bounded."""

from __future__ import annotations

import io
import re
from collections import deque
from typing import Any

Output = dict[str, Any]

# Splits stream text into runs of plain text and the single control characters we interpret.
_CONTROL = re.compile(r"([\r\b\n])")
# Completed lines are kept in small chunks; this many are joined into one block, so a cell
# printing millions of lines holds few Python objects while each character is copied once.
_CHUNKS_PER_BLOCK = 1024
# JupyterLab renders a 2 MB stream output in about a second and stays usable; ten times that
# freezes the tab for a long while (and every save and reattach carries it).
DEFAULT_MAX_OUTPUT_BYTES = 2 * 1024 * 1024
# Tail fragments shorter than this are merged, so a tail of short lines is few objects.
_TAIL_CHUNK = 4096


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


ELISION = " bytes elided; "


def elision_marker(elided: int, run_id: str | None) -> str:
    """The line that stands, in a bounded stream, for the text dropped between head and tail."""
    where = f"`jupyter lapd logs {run_id}`" if run_id else "`jupyter lapd logs <run id>`"
    return f"\n... [jupyter_lapd: {elided:,}{ELISION}{where} prints everything] ...\n\n"


class _Tail:
    """The newest completed lines of a bounded stream, and the size of what fell out.

    Chunks leave whole from the left, so each character is copied a bounded number of
    times however long the stream runs; the text is trimmed to the budget (at a line
    boundary) only when it is rendered.
    """

    __slots__ = ("budget", "chunks", "elided", "size")

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.chunks: deque[str] = deque()
        self.size = 0  # characters held
        self.elided = 0  # bytes dropped for good

    def add(self, text: str) -> None:
        if len(text) > self.budget:  # one fragment larger than the whole tail
            for old in self.chunks:
                self.elided += _utf8_len(old)
            cut = _line_cut(text, len(text) - self.budget)
            self.elided += _utf8_len(text[:cut])
            self.chunks = deque([text[cut:]])
            self.size = len(text) - cut
            return
        if self.chunks and len(self.chunks[-1]) < _TAIL_CHUNK:
            self.chunks[-1] += text
        else:
            self.chunks.append(text)
        self.size += len(text)
        while self.size - len(self.chunks[0]) >= self.budget:
            first = self.chunks.popleft()
            self.size -= len(first)
            self.elided += _utf8_len(first)

    def render(self, budget: int) -> tuple[str, int]:
        """The tail text within ``budget`` characters, and how many bytes in all were elided."""
        text = "".join(self.chunks)
        if len(text) <= budget:
            return text, self.elided
        cut = _line_cut(text, len(text) - budget)
        return text[cut:], self.elided + _utf8_len(text[:cut])


def _length(line: io.StringIO) -> int:
    """The length of ``line``, its cursor left where it was."""
    cursor = line.tell()
    length = line.seek(0, io.SEEK_END)
    line.seek(cursor)
    return length


def _line_cut(text: str, at_least: int) -> int:
    """Where to cut ``text`` so that at least ``at_least`` characters go: just after the
    first newline from there, or exactly there if the rest has no newline."""
    newline = text.find("\n", max(0, at_least - 1))
    return newline + 1 if 0 <= newline < len(text) - 1 else at_least


class StreamOutput:
    """One stream output being built incrementally, as JupyterLab's output area builds it.

    The unfinished line has a cursor (``@jupyterlab/outputarea`` 4, ``processText``): text
    is written at the cursor, overwriting what is there and extending the line past its
    end; ``\\r`` moves the cursor to the start of the line, so ``Downloading...\\rDone``
    shows ``Doneloading...``; ``\\n`` ends the line wherever the cursor is (so ``\\r\\n``
    is a plain line end, the ``\\r`` dropped); ``\\b`` at the end of the line removes the
    character before it, and inside the line (after a ``\\r``) removes the character
    before the cursor and the one under it, as JupyterLab does; at the start of a line it
    does nothing. Text never reaches past a newline, so completed lines are kept as
    chunks and never touched again: each fragment costs O(its length), whatever the size
    of the output.

    ``text(cursor=True)`` (what a page reattaching mid-run is sent) ends, while the cursor
    is inside the line, with ``\\r`` and the line's text up to the cursor: JupyterLab
    reading that text puts its cursor where ours is, so the text that follows lands as it
    would have live. The file gets the text as shown.

    With a ``limit``, completed lines beyond it are not kept: the first ``limit / 2``
    characters (the head) and the newest ``limit / 2`` (the tail, :class:`_Tail`, which
    includes the unfinished line) are, joined by a marker saying how many bytes were
    elided. An unfinished line longer than ``limit / 2`` is taken as completed text, so a
    later ``\\r`` overwrites only what follows.
    """

    __slots__ = (
        "_blocks",
        "_head_free",
        "_limit",
        "_line",
        "_recent",
        "_run_id",
        "_tail",
        "_text",
        "name",
    )

    def __init__(self, name: str, limit: int | None = None, run_id: str | None = None) -> None:
        self.name = name
        self._blocks: list[str] = []  # completed lines, joined in groups (the head if bounded)
        self._recent: list[str] = []  # completed lines not yet grouped into a block
        self._line = io.StringIO()  # the unfinished line; its position is the cursor
        self._text: str | None = ""
        self._limit = limit
        self._run_id = run_id
        self._head_free = limit // 2 if limit is not None else 0
        self._tail: _Tail | None = None

    def append(self, text: str) -> None:
        if not text:
            return
        self._text = None
        if "\r" in text or "\b" in text:
            for piece in _CONTROL.split(text):
                self._append_piece(piece)
        else:
            # Fast path: plain text, possibly many lines at once, taken in at most three slices.
            end = text.rfind("\n") + 1
            if end:
                first = text.find("\n")
                if first:
                    self._line.write(text[:first])
                self._complete(text[first:end])
            if end < len(text):
                self._line.write(text[end:])
        if self._limit is not None and _length(self._line) > self._limit // 2:
            spilled = self._line.getvalue()
            self._line = io.StringIO()
            self._keep(spilled)

    def _append_piece(self, piece: str) -> None:
        if piece == "\n":
            self._complete(piece)
        elif piece == "\r":
            self._line.seek(0)
        elif piece == "\b":
            cursor = self._line.tell()
            if cursor == 0:
                return  # a backspace at the start of a line has nothing to remove
            self._line.seek(cursor - 1)
            if _length(self._line) == cursor:
                self._line.truncate()
            else:
                line = self._line.getvalue()
                self._line = io.StringIO(line[: cursor - 1] + line[cursor + 1 :])
                self._line.seek(cursor - 1)
        elif piece:
            self._line.write(piece)

    def _complete(self, lines: str) -> None:
        """Close the unfinished line with ``lines`` (which starts and ends with a newline)."""
        head = self._line.getvalue()
        if head:
            lines = head + lines
            self._line = io.StringIO()
        self._keep(lines)

    def _keep(self, lines: str) -> None:
        if self._limit is not None:
            if self._tail is not None or len(lines) > self._head_free:
                self._keep_bounded(lines)
                return
            self._head_free -= len(lines)
        self._recent.append(lines)
        if len(self._recent) >= _CHUNKS_PER_BLOCK:
            self._blocks.append("".join(self._recent))
            self._recent = []

    def _keep_bounded(self, lines: str) -> None:
        """The head is full: what does not fit goes to the tail (whole lines in the head)."""
        assert self._limit is not None
        if self._tail is None:
            cut = lines.rfind("\n", 0, self._head_free) + 1
            if cut:
                self._recent.append(lines[:cut])
                lines = lines[cut:]
            self._head_free = 0
            self._tail = _Tail(self._limit - self._limit // 2)
        if lines:
            self._tail.add(lines)

    @property
    def bounded(self) -> bool:
        """Whether the text has outgrown half its limit: from then on, what is appended
        may push older lines out of it (into the elision marker)."""
        return self._tail is not None

    def drain(self) -> str:
        """The completed lines not drained before, forgotten here (unbounded streams only):
        text never reaches back past a newline, so they are final. A log printed from a
        journal holds one line of a gigabyte stream this way; ``text()`` then gives the
        unfinished line."""
        assert self._limit is None, "a bounded stream keeps its head and tail"
        done = "".join(self._blocks) + "".join(self._recent)
        self._blocks, self._recent, self._text = [], [], None
        return done

    def text(self, cursor: bool = False) -> str:
        """The text as JupyterLab shows it; with ``cursor``, followed (when the cursor is
        inside the unfinished line) by ``\\r`` and the line up to the cursor."""
        if self._text is None:
            if len(self._blocks) + len(self._recent) > 1:
                self._blocks = ["".join(self._blocks + self._recent)]
                self._recent = []
            done = self._blocks[0] if self._blocks else "".join(self._recent)
            line = self._line.getvalue()
            if self._tail is not None:  # the tail and the unfinished line share a budget
                kept, elided = self._tail.render(max(0, self._tail.budget - len(line)))
                if elided:
                    done += elision_marker(elided, self._run_id)
                done += kept
            self._text = done + line if line else done
        if cursor and (at := self._line.tell()) < _length(self._line):
            return self._text + "\r" + self._line.getvalue()[:at]
        return self._text

    def to_output(self, cursor: bool = False) -> Output:
        return {"output_type": "stream", "name": self.name, "text": self.text(cursor)}
