"""Executor: runs a run's cells through nbclient on a kernel owned by the server."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import zmq
from jupyter_client.session import Session
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async
from nbformat import NotebookNode

from .cellclient import IOPUB_TIMEOUT, StreamingClient, Submission, Throttle
from .cellresult import CellOutcome, CellResult
from .iopub import dating_headers

MessageSink = Callable[[str, dict[str, Any]], None]
# Messages the run's own ZeroMQ sockets queue in the server (libzmq's default is 1000).
# The kernel's side queues another 1000; a kernel printing 64 KiB messages faster than
# they are read would otherwise fill 64 MB of the server's memory here.
RECEIVE_HWM = 200


def _announcing_replies(
    get_msg: Callable[..., Any], announce: Callable[[dict[str, Any]], None]
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A shell channel's ``get_msg`` that shows each execute reply to ``announce`` as it
    is read: nbclient returns a cell's reply only with its last output, and the next
    cell can go to the kernel as soon as the reply is in."""

    async def get_msg_announcing(*args: Any, **kwargs: Any) -> dict[str, Any]:
        msg: dict[str, Any] = await ensure_async(get_msg(*args, **kwargs))
        if msg.get("msg_type") == "execute_reply":
            announce(msg)
        return msg

    return get_msg_announcing


async def _maybe_await(result: Any) -> None:
    if inspect.isawaitable(result):
        await result


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
        self.client = StreamingClient(
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
        # the kernel's ``language_info`` (its kernel_info reply), as nbclient stores it
        self.language_info: dict[str, Any] | None = None

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
        self.language_info = await self._language_info(kc, ready_timeout)
        shell = kc.shell_channel
        shell.get_msg = _announcing_replies(shell.get_msg, self._replied)
        self._kc = kc
        self.client.kc = kc

    async def _language_info(self, kc: Any, timeout: float) -> dict[str, Any] | None:
        """The kernel's ``language_info``, which nbclient and JupyterLab keep in the
        notebook's metadata (nbconvert's exporters and syntax highlighting read it)."""
        try:
            reply = await ensure_async(kc.kernel_info(reply=True, timeout=timeout))
            info = reply["content"]["language_info"]
        except Exception as e:  # a kernel that says nothing of its language: none stored
            self._log.warning("jupyter_lapd: no language_info from the kernel: %r", e)
            return None
        return dict(info) if isinstance(info, dict) else None

    async def stop(self) -> None:
        if self._kc is not None:
            await _maybe_await(self._kc.stop_channels())
            self._kc = None

    def submit(self, cell: NotebookNode, index: int, cell_id: str) -> Submission:
        """Send a code cell to the kernel; its output is read once ``begin`` says so."""
        loop = asyncio.get_running_loop()
        submission = Submission(cell_id, index, loop.create_future())
        self.client.submitted[index] = submission
        submission.task = asyncio.ensure_future(self._execute(cell, submission))
        return submission

    def begin(self, submission: Submission) -> None:
        """Read the cell's output from now on (the previous cell's is all read): what
        arrives goes to the sink as this cell's."""
        self.current_cell_id = submission.cell_id
        submission.reading.set()

    @property
    def keeping_up(self) -> bool:
        """Whether the output read so far is all the kernel has sent (as of the last read).

        A cell sent while the run is behind on the output of the one before would print
        into queues already full: ZeroMQ drops what the kernel cannot queue. The next
        cell then waits for the output before it to be read, as it always did.
        """
        return self.client.caught_up

    async def _execute(self, cell: NotebookNode, submission: Submission) -> CellResult:
        try:
            await self.client.async_execute_cell(cell, submission.index, store_history=True)
        except DeadKernelError:
            return self._result(cell, CellOutcome.DEAD, "kernel died")
        except CellTimeoutError as e:
            return self._result(cell, CellOutcome.TIMEOUT, str(e).strip().splitlines()[0])
        finally:
            self.client.submitted.pop(submission.index, None)
            self.client.unreplied.pop(submission.msg_id or "", None)
            if not submission.replied.done():
                submission.replied.set_result(None)
        reply = None if submission.replied.cancelled() else submission.replied.result()
        outcome = CellOutcome.of_reply((reply or {}).get("content", {}).get("status", "ok"))
        if reply is not None and "started" in reply.get("metadata", {}):
            started = reply["metadata"]["started"]
            cell.metadata.setdefault("execution", {})["shell.execute_reply.started"] = str(started)
        error = None
        if outcome == CellOutcome.ERROR:
            content = (reply or {})["content"]
            error = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}".rstrip(": ")
        return self._result(cell, outcome, error)

    def _replied(self, msg: dict[str, Any]) -> None:
        submission = self.client.unreplied.pop(msg.get("parent_header", {}).get("msg_id", ""), None)
        if submission is not None and not submission.replied.done():
            submission.replied.set_result(msg)

    @staticmethod
    def _result(cell: NotebookNode, outcome: CellOutcome, error: str | None) -> CellResult:
        return CellResult(
            status=outcome,
            execution_count=cell.get("execution_count"),
            execution=dict(cell.metadata.get("execution", {})),
            error=error,
        )
