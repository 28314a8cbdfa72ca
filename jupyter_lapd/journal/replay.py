"""A finished run's outputs rebuilt from its journal, in bounded memory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..outputs.model import OutputModel
from .store import Store


async def outputs_from_journal(
    db_call: Callable[..., Awaitable[Any]],
    store: Store,
    run_id: str,
    max_output_bytes: int | None,
) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    """The run's last seq and each cell's outputs, as the run left them. Read a page at a
    time: a run that printed a gigabyte is read in the memory of its bounded outputs, the
    event loop free between pages."""
    model, seq = OutputModel(max_output_bytes, run_id), 0
    while page := await db_call(store.read_page, run_id, seq):
        for event in page:
            model.apply(event)
        seq = int(page[-1]["seq"])
    return seq, {cid: model.outputs(cid, cursor=True) for cid in model.cell_ids()}
