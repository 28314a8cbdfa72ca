"""Where a run's events go once the hub has numbered them: the ``EventSink`` interface.

``ActiveRun.emit`` is the one step every event takes. The hub (``journal.eventhub``)
numbers the event first (its ``seq``; the hub also journals it and sends it to every
follower), then each sink of the run receives the numbered event, in seq order and in the
same synchronous step, so whatever any destination holds at seq N is the run's state at
seq N. A new destination of a run's events (a notifier, a metric) is one more sink.
"""

from __future__ import annotations

from typing import Protocol

from ..journal import eventhub as ev
from ..journal.eventhub import Event
from ..notebook.writer import NotebookWriter
from ..outputs.model import OutputModel


class EventSink(Protocol):
    """A destination of a run's numbered events.

    ``since``: when the kernel sent the message the event came from (monotonic clock),
    if it did; ``urgent``: the event should reach the file without waiting for the next
    flush (a long cell's end). A sink must not block: it is called inside ``emit``.
    """

    def receive(self, event: Event, since: float | None, urgent: bool) -> None: ...


class OutputsSink:
    """The run's outputs as JupyterLab would hold them (``OutputModel``): every event
    applied, which is what the writer and a page attaching mid-run take."""

    def __init__(self, model: OutputModel) -> None:
        self.model = model

    def receive(self, event: Event, since: float | None, urgent: bool) -> None:
        self.model.apply(event)


class FileSink:
    """The notebook's writer: an event that changes what the file holds marks it dirty
    (the writer then takes the outputs from the model at most once a flush interval).
    The run's status and the writer's own ``flushed`` events do not."""

    def __init__(self, writer: NotebookWriter) -> None:
        self.writer = writer

    def receive(self, event: Event, since: float | None, urgent: bool) -> None:
        if event["type"] not in (ev.RUN, ev.FLUSHED):
            self.writer.mark_dirty(urgent=urgent, since=since)
