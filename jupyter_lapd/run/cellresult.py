"""How one cell of a run ended: its outcome, execution count, timings and error line."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class CellOutcome(str, Enum):
    """The kernel's reply status for a cell (``ok``, ``error``, ``aborted``), or what
    happened instead of a reply."""

    OK = "ok"
    ERROR = "error"
    ABORTED = "aborted"
    #: the kernel died under the cell
    DEAD = "dead"
    #: the cell ran longer than the run's timeout
    TIMEOUT = "timeout"
    #: the connection to the kernel broke (a remote kernel's gateway went away)
    LOST = "lost"

    @classmethod
    def of_reply(cls, status: str) -> CellOutcome:
        """The outcome an execute reply's ``status`` says; the messaging spec knows only
        ``ok``, ``error`` and ``aborted``, and anything else is taken as an error."""
        try:
            outcome = cls(status)
        except ValueError:
            return cls.ERROR
        return outcome if outcome in (cls.OK, cls.ERROR, cls.ABORTED) else cls.ERROR


@dataclass
class CellResult:
    status: CellOutcome
    execution_count: int | None = None
    execution: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
