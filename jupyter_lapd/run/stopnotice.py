"""What a stop notice (SIGTERM, a server shutting down) does to a running run.

A preempted machine is told first and killed later: 30 s on GCE and Azure spot VMs and
by a Kubernetes pod's default ``terminationGracePeriodSeconds``, 2 min on AWS spot.
``interrupt`` spends that notice on the user's code: the kernel is interrupted, so the
running cell sees ``KeyboardInterrupt`` (a training loop's ``except KeyboardInterrupt:``
or a framework's callback saves a checkpoint), and the run waits for the cell to end.
``stop`` ends the run at once, as before. Either way the run ends ``interrupted`` with
its file written, within the grace.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..models import RunStatus

if TYPE_CHECKING:
    from .activerun import ActiveRun

INTERRUPT, STOP = "interrupt", "stop"
ON_SIGTERM = (INTERRUPT, STOP)
DEFAULT_GRACE = 25.0  # seconds: inside every provider's notice, as a pod's default 30 s


def cell_time(grace: float) -> float:
    """How long, of ``grace``, the interrupted cell may take to end: the rest is kept for
    the run's own end (kernel shutdown, the last write of the file, the exit), a fifth of
    the grace, at least 1 s and at most 5 s, and never more than half of it."""
    return max(grace - min(5.0, max(1.0, grace / 5)), grace / 2)


async def wind_up(run: ActiveRun, reason: str, grace: float) -> None:
    """Interrupt the run's cell, give it ``cell_time(grace)`` to end, then stop the run
    ``interrupted`` (at once if the cell is still going); return once it has ended."""
    await run.cancel(RunStatus.INTERRUPTED, reason, grace=cell_time(grace))
    if run.task is not None:
        await asyncio.wait({run.task}, timeout=grace - cell_time(grace))
