"""The EventSink interface: a destination added to a run gets what its followers get."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import held_until


class Recorder:
    """A sink that keeps what it receives, as JSON would carry it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def receive(self, event: dict[str, Any], since: float | None, urgent: bool) -> None:
        self.events.append(json.loads(json.dumps(event)))


async def test_a_sink_receives_every_event_in_seq_order_as_the_followers_do(
    lapd_app: Any,
    lapd_notebook: Any,
    lapd_start: Any,
    lapd_wait: Any,
    lapd_events: Any,
    tmp_path: Path,
) -> None:
    flag = tmp_path / "go"
    lapd_notebook(
        [
            held_until(flag),
            "print('a')",
            "from IPython.display import clear_output\nclear_output(wait=True)\nprint('b')",
            "1/0",
        ]
    )
    run = await lapd_start("nb.ipynb")
    recorder = Recorder()
    lapd_app.manager._active[run["id"]].sinks.append(recorder)
    flag.touch()  # the cells after the first run once the sink is in place
    assert (await lapd_wait(run["id"]))["status"] == "failed"

    received = recorder.events
    first = received[0]["seq"]
    assert [e["seq"] for e in received] == list(range(first, first + len(received)))
    followed = [e for e in await lapd_events(run["id"], since=first - 1) if e["type"] != "snapshot"]
    assert received == followed
    kinds = {e["type"] for e in received}
    assert {"cell_start", "output", "clear_output", "cell_end", "run"} <= kinds
    assert received[-1]["type"] == "run" and received[-1]["run"]["status"] == "failed"
