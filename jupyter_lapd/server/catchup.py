"""When a subscriber of a run's events (``?catchup=1``) gets a snapshot in their place.

A page renders every event it receives. When it falls behind (its socket takes events
slower than the run makes them) the states in between would each be shown for a frame at
most; and a stream printing past ``max_output_bytes`` would grow in the page without the
bound the file has. In both cases one snapshot of the cells concerned says it all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# A subscriber this many events behind the run gets a snapshot of the cells they touch.
CATCH_UP_BACKLOG = 100


class CatchUpPolicy:
    """One subscriber's catch-ups. One is due when it is ``CATCH_UP_BACKLOG`` events
    behind; and, for a cell whose streams are bounded (``OutputModel.bounded``), once it
    was sent another ``limit / 2`` characters of them as events, and when the cell ends
    after any: so the subscriber holds what the file holds, give or take half the limit
    while the cell prints, and exactly that once it has ended.

    ``bounded(cell_id)`` tells whether the run's outputs of a cell are bounded, now;
    ``limit`` is the run's ``max_output_bytes`` (None: never bounded).
    """

    def __init__(self, bounded: Callable[[str], bool], limit: int | None) -> None:
        self._bounded = bounded
        self._step = None if limit is None else max(1, limit // 2)
        self._appended: dict[str, int] = {}  # stream text sent as events, by cell

    def due(self, event: Mapping[str, Any], backlog: int) -> bool:
        """Whether ``event``, with ``backlog`` more waiting behind it, should be sent as a
        catch-up snapshot instead; if not, it is sent as it is."""
        if backlog >= CATCH_UP_BACKLOG:
            return True
        cell_id, kind = event.get("cell_id"), event.get("type")
        if self._step is None or not isinstance(cell_id, str):
            return False
        if kind == "cell_start":
            self._appended.pop(cell_id, None)
            return False
        appended = self._appended.get(cell_id, 0)
        if kind == "output":
            text = event["output"].get("text") if event["output"].get("name") else None
            if not isinstance(text, str):
                return False
            appended = self._appended[cell_id] = appended + len(text)
            return appended >= self._step and self._bounded(cell_id)
        if kind == "cell_end":
            return appended > 0 and self._bounded(cell_id)
        return False

    def sent(self, snapshot: Mapping[str, Any]) -> None:
        """The subscriber was sent ``snapshot``: it holds the outputs of its cells."""
        for cell_id in snapshot.get("outputs") or {}:
            self._appended.pop(cell_id, None)
