"""Jupyter output semantics: kernel iopub messages to run events, run events to nbformat outputs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from nbformat import ValidationError
from nbformat.v4 import output_from_msg as _untyped_output_from_msg

from .streams import DEFAULT_MAX_OUTPUT_BYTES, ELISION, Output, StreamOutput

__all__ = [
    "DEFAULT_MAX_OUTPUT_BYTES",
    "ELISION",
    "Event",
    "Output",
    "OutputModel",
    "events_from_message",
    "replay",
]

log = logging.getLogger(__name__)

# nbformat is untyped; this is the one place outputs are built from kernel messages.
_output_from_msg: Callable[[Mapping[str, Any]], Mapping[str, Any]] = _untyped_output_from_msg

Event = dict[str, Any]

_OUTPUT_MSG_TYPES = frozenset({"stream", "display_data", "execute_result", "error"})
_DISPLAY_MSG_TYPES = frozenset({"display_data", "execute_result"})


def events_from_message(cell_id: str, msg: Mapping[str, Any]) -> list[Event]:
    """Convert one kernel iopub message into run events (without ``seq``).

    This is the only translation from the kernel protocol to the public event wire format,
    so the executor, the journal and the browser all see the same shapes. Messages that do
    not change outputs (``status``, ``execute_input``, ``comm_*``, ...) give no event.

    Parameters
    ----------
    cell_id : str
        The nbformat id of the cell whose execution the message belongs to.
    msg : Mapping
        A jupyter_client message (``header``, ``msg_type``, ``content``, ...).

    Returns
    -------
    list of dict
        Zero or one event: ``output`` (with ``display_id`` when the kernel set one),
        ``clear_output`` or ``update_display``. An output message that is not valid nbformat
        is logged and dropped, since saving it would make the notebook invalid.
    """
    msg_type = msg.get("msg_type") or msg["header"]["msg_type"]
    content: Mapping[str, Any] = msg.get("content") or {}
    if msg_type == "clear_output":
        return [{"type": "clear_output", "cell_id": cell_id, "wait": bool(content.get("wait"))}]
    if msg_type == "update_display_data":
        display_id = _display_id(content)
        output = _output("display_data", content) if display_id else None
        if output is None:
            return []
        update = {key: output[key] for key in ("output_type", "data", "metadata")}
        return [
            {
                "type": "update_display",
                "cell_id": cell_id,
                "display_id": display_id,
                "output": update,
            }
        ]
    if msg_type not in _OUTPUT_MSG_TYPES:
        return []
    output = _output(msg_type, content)
    if output is None:
        return []
    event: Event = {"type": "output", "cell_id": cell_id, "output": output}
    display_id = _display_id(content) if msg_type in _DISPLAY_MSG_TYPES else None
    if display_id:
        event["display_id"] = display_id
    return [event]


def _display_id(content: Mapping[str, Any]) -> str | None:
    # ``transient`` may be absent, None or empty: all mean "no display id" (as in nbclient).
    transient = content.get("transient")
    if not isinstance(transient, Mapping):
        return None
    display_id = transient.get("display_id")
    return str(display_id) if display_id else None


def _output(msg_type: str, content: Mapping[str, Any]) -> Output | None:
    if msg_type == "stream":
        # Hot path (one per print flush): the shape is fixed, skip nbformat's schema validation.
        name, text = content.get("name"), content.get("text")
        if isinstance(name, str) and isinstance(text, str):
            return {"output_type": "stream", "name": name, "text": text}
    if msg_type in _DISPLAY_MSG_TYPES and "metadata" not in content:
        content = {**content, "metadata": {}}
    try:
        node = _output_from_msg({"header": {"msg_type": msg_type}, "content": content})
    except (KeyError, TypeError, ValueError, ValidationError) as err:
        log.warning("Dropping invalid %s output: %s", msg_type, err)
        return None
    plain = plain_json(node)
    assert isinstance(plain, dict)
    return plain


def plain_json(value: Any) -> Any:
    """NotebookNode trees to plain dicts and lists, so events serialise and compare as JSON."""
    if isinstance(value, Mapping):
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(item) for item in value]
    return value


class _Cell:
    __slots__ = (
        "bounded",
        "clear_pending",
        "display_ids",
        "execution",
        "execution_count",
        "outputs",
        "running",
        "version",
    )

    def __init__(self) -> None:
        self.outputs: list[StreamOutput | Output] = []
        self.clear_pending = False
        self.bounded = False  # one of its streams has outgrown half of max_output_bytes
        self.display_ids: set[str] = set()
        self.execution_count: int | None = None
        self.execution: dict[str, Any] = {}
        self.running = False  # between its cell_start and its cell_end
        self.version = 0


class OutputModel:
    r"""The outputs of the cells of one run, materialised from its events.

    It applies the rules JupyterLab's output area applies live and Jupyter saves, so the file
    written from it matches what a user watching the run would have seen: consecutive
    streams of one name merge, ``\r`` and ``\b`` rewrite the current line,
    ``clear_output(wait=True)`` waits for the next output, and a ``display_id`` update
    rewrites every output of that id in any cell of the run. It is pure and incremental, so
    the executor can apply every message as it arrives and recovery can replay a journal.

    Events are treated as immutable: the model copies what it later changes. Outputs
    returned are fresh lists of fresh dicts whose nested values (mime bundles) are shared,
    so callers must not mutate those.

    Notes
    -----
    Stream text is what JupyterLab's output area shows and saves, however the kernel split
    it (:class:`~jupyter_lapd.outputs.streams.StreamOutput`): a ``\r`` returns to the start of the
    line and what follows overwrites it character by character (so a progress bar redrawn
    10,000 times stays one line), ``\r\n`` is a plain line end, and a ``\b`` deletes back
    on the current line. nbclient keeps the raw text; nbconvert's ``coalesce_streams``
    erases a whole line at a ``\r``, where JupyterLab (and a terminal) keep the end of a
    longer line that a shorter one overwrote.

    Parameters
    ----------
    max_output_bytes : int or None
        Bound on each stream output's text: beyond it only a head and a tail are kept, with
        a marker between them saying how much was elided. None (the default) keeps
        everything, as the CLI needs to print a whole log from the journal; the server
        bounds, so that a cell printing a gigabyte costs it neither memory nor a notebook
        JupyterLab cannot open.
    run_id : str or None
        Named in the elision marker, so the reader knows which run's log has it all.
    """

    def __init__(self, max_output_bytes: int | None = None, run_id: str | None = None) -> None:
        if max_output_bytes is not None and max_output_bytes < 2:
            raise ValueError("max_output_bytes must be at least 2 (or None: unbounded)")
        self.max_output_bytes = max_output_bytes
        self.run_id = run_id
        self._cells: dict[str, _Cell] = {}
        # the notebook metadata the run owns (``metadata`` events): set, and filled if absent
        self._meta: dict[str, Any] = {}
        self._meta_defaults: dict[str, Any] = {}
        self.metadata_version = 0
        # display_id -> cell_id -> indices of the outputs of that cell showing it
        self._displays: dict[str, dict[str, list[int]]] = {}

    def apply(self, event: Mapping[str, Any]) -> None:
        """Apply one run event; events of other types (``run``, ``flushed``, ...) are ignored."""
        kind, cell_id = event.get("type"), event.get("cell_id")
        if kind == "metadata":
            self._metadata(event)
            return
        if not isinstance(cell_id, str):
            return
        if kind == "output":
            self._output(cell_id, event["output"], event.get("display_id"))
        elif kind == "clear_output":
            if event.get("wait"):
                self._cell(cell_id).clear_pending = True
            else:
                self._clear(cell_id)
        elif kind == "update_display":
            self._cell(cell_id)
            self._update_display(event["display_id"], event["output"])
        elif kind == "cell_start":
            cell = self._clear(cell_id)
            cell.execution_count = None
            cell.execution = {}
            cell.running = True
        elif kind == "cell_end":
            if event.get("status") == "skipped":
                return  # not run (tagged skip-execution): the cell stays as it was
            cell = self._cell(cell_id)
            cell.running = False
            cell.execution_count = event.get("execution_count")
            execution = event.get("execution")
            cell.execution = dict(execution) if isinstance(execution, Mapping) else {}
            cell.version += 1

    def notebook_metadata(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The notebook metadata keys the run sets, and those it fills in where absent."""
        return dict(self._meta), dict(self._meta_defaults)

    def _metadata(self, event: Mapping[str, Any]) -> None:
        for field, into in (("metadata", self._meta), ("defaults", self._meta_defaults)):
            values = event.get(field)
            if isinstance(values, Mapping):
                into.update(values)
        self.metadata_version += 1

    def outputs(self, cell_id: str, cursor: bool = False) -> list[Output]:
        """The cell's nbformat v4 outputs, as they should be saved in the notebook file.

        With ``cursor``, a stream whose line is being overwritten says where the cursor is
        (:meth:`StreamOutput.text`): what a page that reattaches mid-run needs."""
        cell = self._cells.get(cell_id)
        if cell is None:
            return []
        return [
            o.to_output(cursor) if isinstance(o, StreamOutput) else dict(o) for o in cell.outputs
        ]

    def execution_count(self, cell_id: str) -> int | None:
        """The count the kernel gave the cell's last finished execution in this run."""
        cell = self._cells.get(cell_id)
        return None if cell is None else cell.execution_count

    def execution_metadata(self, cell_id: str) -> dict[str, Any]:
        """A copy of the cell's ``metadata.execution`` timings, as nbclient records them."""
        cell = self._cells.get(cell_id)
        return {} if cell is None else dict(cell.execution)

    def running(self, cell_id: str) -> bool:
        """Whether the cell has started and not yet ended."""
        cell = self._cells.get(cell_id)
        return cell is not None and cell.running

    def bounded(self, cell_id: str) -> bool:
        """Whether a stream output of the cell has outgrown half of ``max_output_bytes``:
        its text is no longer what its fragments add up to, once they pass the limit."""
        cell = self._cells.get(cell_id)
        return cell is not None and cell.bounded

    def clear_pending(self, cell_id: str) -> bool:
        """Whether a ``clear_output(wait=True)`` waits for the cell's next output."""
        cell = self._cells.get(cell_id)
        return cell is not None and cell.clear_pending

    def displays(self, cell_ids: Collection[str]) -> dict[str, dict[str, list[int]]]:
        """Where each display id shows among those cells' outputs: ``{display_id:
        {cell_id: [output index, ...]}}``, for a page to apply later updates to."""
        shown: dict[str, dict[str, list[int]]] = {}
        for display_id, where in self._displays.items():
            mine = {cid: list(indices) for cid, indices in where.items() if cid in cell_ids}
            if mine:
                shown[display_id] = mine
        return shown

    def snapshot(self, cells: Collection[str] | None = None) -> dict[str, Any]:
        """The outputs of the cells the run has touched (with ``cells``: of those only),
        as a snapshot event carries them to a page attaching mid-run."""
        cell_ids = self.cell_ids()
        if cells is not None:
            wanted = set(cells)
            cell_ids = [cid for cid in cell_ids if cid in wanted]
        return {
            "outputs": {cid: self.outputs(cid, cursor=True) for cid in cell_ids},
            # the cells' timing, as the notebook's cell metadata holds it
            "execution": {cid: self.execution_metadata(cid) for cid in cell_ids},
            # where display ids show (for update_display events to come), and the cells
            # whose clear_output(wait=True) waits for their next output
            "displays": self.displays(set(cell_ids)),
            "clear_pending": [cid for cid in cell_ids if self.clear_pending(cid)],
        }

    def cell_ids(self) -> list[str]:
        """Cells that have had any event, in the order they were first seen."""
        return list(self._cells)

    def version(self, cell_id: str) -> int:
        """A counter that grows on every change to the cell, so a writer can skip clean cells."""
        cell = self._cells.get(cell_id)
        return 0 if cell is None else cell.version

    def _cell(self, cell_id: str) -> _Cell:
        cell = self._cells.get(cell_id)
        if cell is None:
            cell = self._cells[cell_id] = _Cell()
        return cell

    def _clear(self, cell_id: str) -> _Cell:
        cell = self._cell(cell_id)
        cell.outputs = []
        cell.clear_pending = False
        cell.bounded = False
        for display_id in cell.display_ids:
            where = self._displays.get(display_id, {})
            where.pop(cell_id, None)
            if not where:
                self._displays.pop(display_id, None)
        cell.display_ids.clear()
        cell.version += 1
        return cell

    def _output(self, cell_id: str, output: Mapping[str, Any], display_id: str | None) -> None:
        if display_id:
            # Jupyter re-renders every earlier output of a reused display id with the new data.
            self._update_display(display_id, output)
        cell = self._cell(cell_id)
        if cell.clear_pending:
            self._clear(cell_id)
        if output.get("output_type") == "stream":
            text = output.get("text", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            last = cell.outputs[-1] if cell.outputs else None
            if not (isinstance(last, StreamOutput) and last.name == output.get("name")):
                name = str(output.get("name", "stdout"))
                last = StreamOutput(name, self.max_output_bytes, self.run_id)
                cell.outputs.append(last)
            last.append(text)
            cell.bounded = cell.bounded or last.bounded
        else:
            if display_id:
                self._displays.setdefault(display_id, {}).setdefault(cell_id, []).append(
                    len(cell.outputs)
                )
                cell.display_ids.add(display_id)
            cell.outputs.append(dict(output))
        cell.version += 1

    def _update_display(self, display_id: str, output: Mapping[str, Any]) -> None:
        data, metadata = output.get("data", {}), output.get("metadata", {})
        for cell_id, indices in self._displays.get(display_id, {}).items():
            cell = self._cells[cell_id]
            for index in indices:
                shown = cell.outputs[index]
                assert isinstance(shown, dict)
                shown["data"] = data
                shown["metadata"] = metadata
            cell.version += 1


def replay(
    events: Iterable[Mapping[str, Any]],
    max_output_bytes: int | None = DEFAULT_MAX_OUTPUT_BYTES,
    run_id: str | None = None,
) -> OutputModel:
    """Rebuild a run's outputs from its journal, as recovery after a crash needs.

    Bounded as the notebook file holds them by default (recovery and snapshots write or
    send them); ``max_output_bytes=None`` rebuilds everything, as ``jupyter lapd logs``
    prints it.
    """
    model = OutputModel(max_output_bytes, run_id)
    for event in events:
        model.apply(event)
    return model
