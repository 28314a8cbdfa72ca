"""Executor: runs one cell at a time through nbclient on a kernel owned by the server."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from queue import Empty
from typing import Any

import zmq
from jupyter_client.session import Session
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete, CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async
from nbformat import NotebookNode

from .iopub import LOST_NOTE, MessageCounter, coalesced, dating_headers

MessageSink = Callable[[str, dict[str, Any]], None]
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
# Messages the run's own ZeroMQ sockets queue in the server (libzmq's default is 1000).
# The kernel's side queues another 1000; a kernel printing 64 KiB messages faster than
# they are read would otherwise fill 64 MB of the server's memory here.
RECEIVE_HWM = 200
# Messages already queued that are read in one step of the event loop, and the bytes they
# may hold: 32 messages of 64 KiB take ~10-15 ms to read, time the loop answers nothing else.
DRAIN = 100
DRAIN_BYTES = 2 * 1024 * 1024

# Reply statuses a cell can end with, plus "dead" when the kernel died under it and
# "lost" when the connection to it broke (a remote kernel's gateway went away).
OK, ERROR, ABORTED, DEAD, TIMEOUT, LOST = "ok", "error", "aborted", "dead", "timeout", "lost"


@dataclass
class CellResult:
    status: str
    execution_count: int | None = None
    execution: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class _StreamingClient(NotebookClient):
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
        self._counters = MessageCounter()
        self._noted: str | None = None  # the request whose cell already says output was lost
        self._reader: tuple[Any, zmq.Socket[bytes] | None] | None = None  # (socket, shadow)

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
                    timing[f"iopub.status.{state}"] = _timestamp(msg)
            elif msg_type == "execute_input":
                timing["iopub.execute_input"] = _timestamp(msg)
        self._sink(msg)
        if msg_type == "status" and content["execution_state"] == "idle":
            raise CellExecutionComplete()
        if msg_type.startswith("comm"):
            self.handle_comm_msg(cell.outputs, msg, cell_index)
        return None

    async def _async_poll_output_msg(
        self, parent_msg_id: str, cell: NotebookNode, cell_index: int
    ) -> None:
        """nbclient's loop, which ends at the kernel's ``idle``, or at ``IOPUB_SILENCE``
        seconds without any iopub message once the execute reply is in.

        A kernel that prints faster than its readers drops iopub messages past its ZMQ
        high-water mark, ``idle`` included; nbclient would then wait out ``iopub_timeout``
        (30 s here, so that a long backlog of queued output is never cut off) at the end
        of the cell. Silence on a drained socket after the reply means the rest is lost,
        and so does a gap in the kernel's message numbers: either way the cell says so.
        A short silence after the reply sends a probe (``_probe``): its answer ends the
        cell at once, and only a kernel that answers nothing waits out the silence.
        """
        assert self.kc is not None
        probe: str | None = None  # the request asked once the reply is in and all is quiet
        while True:
            pending = self._throttle() if self._throttle is not None else None
            if pending is not None:
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
                self.log.warning("jupyter_lapd: iopub messages of a cell were lost")
                if self._noted != parent_msg_id:
                    self._sink(LOST_NOTE)  # the reader of the notebook must know
                return
            for msg in coalesced(self._arrivals(first, parent_msg_id, probe)):
                if probe and msg.get("parent_header", {}).get("msg_id") == probe:
                    # the cell's idle was dropped (the gap before this message put the
                    # note in the cell): all it sent before is in, or lost
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
        it, with a note where the kernel dropped some; every message read is shown to
        ``on_any``."""
        for msg in self._with_queued(first):
            if self._on_any is not None:
                self._on_any(msg)
            if self._counters.lost(msg) and self._noted != parent_msg_id:
                self._noted = parent_msg_id
                self.log.warning("jupyter_lapd: the kernel dropped iopub messages")
                yield LOST_NOTE
            parent = msg["parent_header"].get("msg_id")
            if parent == parent_msg_id or (probe and parent == probe):
                yield msg

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
                return
            try:
                parts = shadow.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            size += sum(len(part) for part in parts)
            _idents, message = session.feed_identities(parts)
            yield session.deserialize(message)

    def _shadow_socket(self) -> zmq.Socket[bytes] | None:
        socket = getattr(self.kc.iopub_channel, "socket", None)  # type: ignore[union-attr]
        if self._reader is None or self._reader[0] is not socket:
            shadow: zmq.Socket[bytes] | None = None
            if isinstance(socket, zmq.Socket):
                shadow = zmq.Socket.shadow(socket.underlying)
            self._reader = (socket, shadow)
        return self._reader[1]


def _replied(cell: NotebookNode) -> bool:
    """Whether the cell's execute reply is in (nbclient records its time in the cell)."""
    return "shell.execute_reply" in cell.get("metadata", {}).get("execution", {})


async def _maybe_await(result: Any) -> None:
    if inspect.isawaitable(result):
        await result


def _timestamp(msg: dict[str, Any]) -> str:
    from nbclient.client import timestamp

    return str(timestamp(msg))


class Executor:
    """Drives the cells of one run against a kernel from the server's kernel manager.

    ``km`` is whatever manager the server holds for the kernel (local, or a gateway's
    remote kernel); the executor only uses its client, ``is_alive`` and nothing else, so
    it never touches the event loop's signal handlers the way ``NotebookClient.execute``
    does.
    """

    def __init__(
        self,
        nb: NotebookNode,
        km: Any,
        sink: MessageSink,
        timeout: int | None = None,
        log: logging.Logger | None = None,
        throttle: Throttle | None = None,
        on_any: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """``on_any`` sees every iopub message read, whichever request it answers."""
        self._sink = sink
        self._log = log or logging.getLogger(__name__)
        self.current_cell_id: str | None = None
        self.client = _StreamingClient(
            nb,
            self._forward,
            throttle,
            on_any,
            km=km,
            timeout=timeout,
            allow_errors=True,
            record_timing=True,
            iopub_timeout=IOPUB_TIMEOUT,
            log=self._log,
        )
        self._kc: Any = None

    def _forward(self, msg: dict[str, Any]) -> None:
        if self.current_cell_id is not None:
            self._sink(self.current_cell_id, msg)

    async def start(self, ready_timeout: float = 60) -> None:
        km = self.client.km
        assert km is not None
        kc: Any = km.client()
        session = getattr(kc, "session", None)  # the client's own clone of the kernel's
        if isinstance(session, Session):
            session.unpack = dating_headers(session.unpack)
        context = getattr(kc, "context", None)
        if isinstance(context, zmq.Context):  # a gateway's client speaks websockets instead
            context.setsockopt(zmq.RCVHWM, RECEIVE_HWM)  # for the sockets it opens next
        # a gateway's kernel client opens its websocket asynchronously; ZMQ clients don't
        await _maybe_await(kc.start_channels())
        await ensure_async(kc.wait_for_ready(timeout=ready_timeout))
        self._kc = kc
        self.client.kc = kc

    async def stop(self) -> None:
        if self._kc is not None:
            await _maybe_await(self._kc.stop_channels())
            self._kc = None

    async def run_cell(self, cell: NotebookNode, index: int, cell_id: str) -> CellResult:
        """Execute one code cell; outputs reach the sink as they arrive."""
        self.current_cell_id = cell_id
        reply: dict[str, Any] | None = None
        try:
            await self.client.async_execute_cell(cell, index, store_history=True)
            reply = self._last_reply()
        except DeadKernelError:
            return self._result(cell, DEAD, "kernel died")
        except CellTimeoutError as e:
            return self._result(cell, TIMEOUT, str(e).strip().splitlines()[0])
        finally:
            self.current_cell_id = None
        status = (reply or {}).get("content", {}).get("status", OK)
        if reply is not None and "started" in reply.get("metadata", {}):
            started = reply["metadata"]["started"]
            cell.metadata.setdefault("execution", {})["shell.execute_reply.started"] = str(started)
        error = None
        if status == ERROR:
            content = (reply or {})["content"]
            error = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}".rstrip(": ")
        return self._result(cell, status, error)

    def _last_reply(self) -> dict[str, Any] | None:
        task = self.client.task_poll_for_reply
        return task.result() if task is not None and task.done() else None

    @staticmethod
    def _result(cell: NotebookNode, status: str, error: str | None) -> CellResult:
        return CellResult(
            status=status,
            execution_count=cell.get("execution_count"),
            execution=dict(cell.metadata.get("execution", {})),
            error=error,
        )
