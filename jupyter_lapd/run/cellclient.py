"""StreamingClient: nbclient reading a run's cells' output for the executor, as it arrives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from queue import Empty
from typing import TYPE_CHECKING, Any

import zmq
from nbclient import NotebookClient
from nbclient.client import timestamp
from nbclient.exceptions import CellExecutionComplete
from nbclient.output_widget import OutputWidget
from nbclient.util import ensure_async
from nbformat import NotebookNode

from ..outputs.model import plain_json
from .iopub import LOST_NOTE, coalesced

if TYPE_CHECKING:
    from .cellresult import CellResult

# Before each read of the kernel's output: None to read on, or something to await first.
Throttle = Callable[[], Awaitable[None] | None]
# Seconds of iopub silence after a cell's execute reply that end the cell (nbclient's own
# default iopub_timeout): the kernel's idle message was dropped, nothing else is coming.
IOPUB_SILENCE = 4.0
# Seconds nbclient waits for a cell's output to end once its reply is in: long, so that a
# backlog of queued output is never cut off (the silence above ends a cell before).
IOPUB_TIMEOUT = 30
# Seconds of silence after a cell's execute reply (its idle normally follows within
# milliseconds) after which the executor asks the kernel something, to learn whether the
# idle was dropped.
PROBE_AFTER = 0.5
# Output messages that an ipywidgets ``Output`` capturing their request takes instead of
# the cell (nbclient's "output hook", as JupyterLab's widget manager does).
_HOOKED = frozenset({"stream", "display_data", "execute_result", "error", "clear_output"})
# Messages already queued that are read in one step of the event loop, and the bytes they
# may hold: 32 messages of 64 KiB take ~10-15 ms to read, time the loop answers nothing else.
DRAIN = 100
DRAIN_BYTES = 2 * 1024 * 1024


@dataclass(eq=False)
class Submission:
    """A cell handed to the kernel.

    ``replied`` resolves with its execute reply as soon as that is read (the kernel has
    finished running the cell; its last outputs and its ``idle`` may still be on their
    way), or with None when the cell ends without one (a dead kernel, a timeout).
    ``reading`` opens the reading of its output, which waits for the cell before it to
    be read to its end; ``task`` ends with the cell's result.
    """

    cell_id: str
    index: int
    replied: asyncio.Future[dict[str, Any] | None]
    reading: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[CellResult] | None = None
    msg_id: str | None = None


class StreamingClient(NotebookClient):
    """nbclient with every iopub message handed to a sink instead of stored in the cell.

    The run's OutputModel owns outputs (so a giant stream is held once, compactly);
    nbclient keeps doing what it is good at: matching replies, kernel liveness, timeouts,
    execution counts and timing metadata.
    """

    def __init__(
        self,
        nb: NotebookNode,
        sink: Callable[[dict[str, Any]], None],
        throttle: Throttle | None = None,
        on_any: Callable[[dict[str, Any]], None] | None = None,
        **kw: Any,
    ):
        super().__init__(nb, **kw)
        self._sink = sink
        self._throttle = throttle
        self._on_any = on_any
        self._reader: tuple[Any, zmq.Socket[bytes] | None] | None = None  # (socket, shadow)
        self.submitted: dict[int, Submission] = {}  # by cell index, until its result
        self.requests: dict[str, Submission] = {}  # by execute request, until read
        self.unreplied: dict[str, Submission] = {}  # by execute request, until its reply
        # read by one cell's reading but sent for the next one's (see ``_arrivals``)
        self._stash: list[dict[str, Any]] = []
        # whether the reading is keeping up: the last batch that ended found the socket
        # empty, and no wait for the journal came since (see ``Executor.keeping_up``)
        self.caught_up = True
        # the widgets' state changed since ``widgets_metadata`` last took it
        self.widgets_changed = False
        # whether ``widgets_metadata`` gives it (c.Lapd.store_widget_state); the state is
        # kept either way: nbclient's Output widget writes into it (KeyError without it)
        self.save_widget_state = True
        self.widget_registry = {"@jupyter-widgets/output": {"OutputModel": _OutputWidget}}

    def process_message(
        self, msg: dict[str, Any], cell: NotebookNode, cell_index: int
    ) -> NotebookNode | None:
        msg_type = msg["msg_type"]
        content = msg["content"]
        if "execution_count" in content:
            cell["execution_count"] = content["execution_count"]
        if self.record_timing:
            timing = cell["metadata"].setdefault("execution", {})
            if msg_type == "status":
                state = content["execution_state"]
                if state in ("busy", "idle"):
                    timing[f"iopub.status.{state}"] = str(timestamp(msg))
            elif msg_type == "execute_input":
                timing["iopub.execute_input"] = str(timestamp(msg))
        if msg_type.startswith("comm"):
            # nbclient keeps the widgets' state and mimics the Output widget's front end
            self.handle_comm_msg(cell.outputs, msg, cell_index)
            self.widgets_changed = self.widgets_changed or "state" in content.get("data", {})
            return None
        hooks = self.output_hook_stack.get(msg["parent_header"].get("msg_id"))
        if hooks and msg_type in _HOOKED:
            # inside ``with out:``: the output goes to the widget's state, not the cell
            if msg_type == "clear_output":
                hooks[-1].clear_output(cell.outputs, msg, cell_index)
            else:
                hooks[-1].output(cell.outputs, msg, None, cell_index)
            self.widgets_changed = True
            return None
        self._sink(msg)
        if msg_type == "status" and content["execution_state"] == "idle":
            raise CellExecutionComplete()
        return None

    def widgets_metadata(self) -> dict[str, Any] | None:
        """``metadata.widgets`` as nbclient stores it at the end of a run (the state of
        every widget model the run saw, and its binary buffers); None if there is none, or
        if it is over ``WIDGET_STATE_LIMIT`` (logged: a notebook must stay openable)."""
        self.widgets_changed = False
        if not self.save_widget_state or not self.widget_state:
            return None
        # nbclient's own serialisation, into the run's copy of the notebook (not written)
        self.set_widgets_metadata()
        widgets = self.nb.metadata.pop("widgets", None)
        if not isinstance(widgets, dict):
            return None
        size = len(json.dumps(widgets))
        if size > WIDGET_STATE_LIMIT:
            self.log.warning(
                "jupyter_lapd: widget state of %d bytes not saved (over %d)",
                size,
                WIDGET_STATE_LIMIT,
            )
            return None
        plain: dict[str, Any] = plain_json(widgets)
        return plain

    async def _async_poll_output_msg(
        self, parent_msg_id: str, cell: NotebookNode, cell_index: int
    ) -> None:
        """nbclient's loop, which ends at the kernel's ``idle``, or at ``IOPUB_SILENCE``
        seconds without any iopub message once the execute reply is in.

        A kernel that prints faster than its readers drops iopub messages past its ZMQ
        high-water mark, ``idle`` included; nbclient would then wait out ``iopub_timeout``
        (30 s here, so that a long backlog of queued output is never cut off) at the end
        of the cell. A short silence after the reply sends a probe (``_probe``): its
        answer coming before the cell's ``idle`` proves that messages were dropped, and
        the cell says so (``LOST_NOTE``); only a kernel that answers nothing waits out the
        silence, which ends the cell with a warning in the log (no proof of a loss).
        """
        assert self.kc is not None
        submission = self.submitted.get(cell_index)
        if submission is not None:
            submission.msg_id = parent_msg_id
            self.requests[parent_msg_id] = self.unreplied[parent_msg_id] = submission
            await submission.reading.wait()  # the previous cell's output is all read
        try:
            await self._read_output(parent_msg_id, cell, cell_index)
        finally:
            self.requests.pop(parent_msg_id, None)

    async def _read_output(self, parent_msg_id: str, cell: NotebookNode, cell_index: int) -> None:
        assert self.kc is not None
        stashed, self._stash = self._stash, []
        for msg in stashed:
            if msg["parent_header"].get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    return
        probe: str | None = None  # the request asked once the reply is in and all is quiet
        while True:
            pending = self._throttle() if self._throttle is not None else None
            if pending is not None:
                self.caught_up = False
                await pending
            wait = PROBE_AFTER if probe is None else IOPUB_SILENCE
            try:
                first = await ensure_async(self.kc.iopub_channel.get_msg(timeout=wait))
            except Empty:
                if not _replied(cell):
                    continue
                if probe is None:
                    probe = self._probe()
                    continue
                self.log.warning(
                    "jupyter_lapd: no idle message for a cell after %.0f s of silence",
                    PROBE_AFTER + IOPUB_SILENCE,
                )
                return
            for msg in coalesced(self._arrivals(first, parent_msg_id, probe)):
                if msg is _LATER or (probe and msg.get("parent_header", {}).get("msg_id") == probe):
                    # a later request's message before the cell's idle: the kernel
                    # dropped messages; all the cell sent before is in, or lost
                    self.log.warning("jupyter_lapd: the kernel dropped iopub messages")
                    self._sink(LOST_NOTE)  # the reader of the notebook must know
                    return
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    return

    def _probe(self) -> str:
        """Ask the kernel something, to learn when the cell's last message has gone by.

        The kernel publishes every message on one socket, in order, and handles shell
        requests one after the other: the status messages of a request sent once the
        cell's reply is in come after the cell's own ``idle``. When the kernel dropped
        messages, that ``idle`` may be among them; the probe's arrival then ends the cell
        at once instead of after ``IOPUB_SILENCE``, and the gap in the message numbers
        before it notes the loss in the cell. (Its reply, on the shell channel, is
        skipped by the next cell's wait for its own.) "" if it could not be sent: the
        silence then ends the cell, as without a probe.
        """
        try:
            return str(self.kc.kernel_info())  # type: ignore[union-attr]
        except Exception:
            return ""

    def _arrivals(
        self, first: dict[str, Any], parent_msg_id: str, probe: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """The cell's messages (and the probe's) among ``first`` and those queued behind
        it; every message read is shown to ``on_any``.

        A message of the next cell (sent once this one's reply was in) means this cell's
        ``idle`` was dropped, as a probe's answer would: it is kept for the next cell's
        reading, and ``_LATER`` ends this one.
        """
        for msg in self._with_queued(first):
            if self._on_any is not None:
                self._on_any(msg)
            parent = msg["parent_header"].get("msg_id")
            if parent == parent_msg_id or (probe and parent == probe):
                yield msg
            elif parent in self.requests:
                self._stash.append(msg)
                yield _LATER
                return

    def _with_queued(self, first: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """``first``, then the messages already waiting behind it (up to ``DRAIN``, or
        ``DRAIN_BYTES``).

        One ``await`` per message costs the event loop a poll and two futures; a kernel
        printing flat out queues thousands, read here in one step of the loop each batch.
        A gateway's websocket channel has no socket to read from: one at a time there.
        """
        yield first
        shadow = self._shadow_socket()
        if shadow is None:
            return
        session = self.kc.iopub_channel.session  # type: ignore[union-attr]
        size = 0
        for _ in range(DRAIN):
            if size >= DRAIN_BYTES:
                break
            try:
                parts = shadow.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                self.caught_up = True
                return
            size += sum(len(part) for part in parts)
            _idents, message = session.feed_identities(parts)
            yield session.deserialize(message)
        self.caught_up = False  # stopped at its limits: more is waiting

    def _shadow_socket(self) -> zmq.Socket[bytes] | None:
        socket = getattr(self.kc.iopub_channel, "socket", None)  # type: ignore[union-attr]
        if self._reader is None or self._reader[0] is not socket:
            shadow: zmq.Socket[bytes] | None = None
            if isinstance(socket, zmq.Socket):
                shadow = zmq.Socket.shadow(socket.underlying)
            self._reader = (socket, shadow)
        return self._reader[1]


class _OutputWidget(OutputWidget):
    """nbclient's stand-in for the front end of an ``Output`` widget, which does not
    send the widget's outputs back to the kernel: a run reads its kernel, it does not
    talk back on a widget's behalf (a page showing the widget does that itself)."""

    def sync_state(self) -> None:
        pass


# Bytes of JSON the widgets' state may take in the notebook: a widget holding a big array
# (a plot's data, an image) would otherwise make the file unopenable.
WIDGET_STATE_LIMIT = 16 * 1024 * 1024


# Ends a cell's reading: a message of the next cell came (see ``_arrivals``).
_LATER: dict[str, Any] = {"msg_type": "", "parent_header": {}, "content": {}}


def _replied(cell: NotebookNode) -> bool:
    """Whether the cell's execute reply is in (nbclient records its time in the cell)."""
    return "shell.execute_reply" in cell.get("metadata", {}).get("execution", {})
