"""Run lifecycle through the REST API: a real server, real kernels, real files."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import held_until, read_first_idle_late, read_nb, record_sent_cells, wait_until
from tornado.httpclient import HTTPClientError

from jupyter_lapd.models import RunStatus


async def test_run_all_code_cells_writes_outputs(lapd_notebook, lapd_start, lapd_wait):
    path = lapd_notebook(["x = 6 * 7", ("markdown", "# note"), "print(x)", "x"])
    run = await lapd_start("nb.ipynb")
    assert run["status"] in ("queued", "running")
    assert [c["id"] for c in run["cells"]] == ["c0", "c2", "c3"]
    run = await lapd_wait(run["id"])
    assert run["status"] == "completed", run
    assert run["cells_done"] == 3
    assert run["started"] and run["finished"] and run["error"] is None
    nb = read_nb(path)
    assert nb.cells[2].outputs[0]["text"] == "42\n"
    assert nb.cells[3].outputs[0]["data"]["text/plain"] == "42"
    counts = [nb.cells[i].execution_count for i in (0, 2, 3)]
    assert counts == sorted(counts) and None not in counts
    timing = nb.cells[2].metadata["execution"]
    for key in (
        "iopub.status.busy",
        "iopub.execute_input",
        "shell.execute_reply",
        "iopub.status.idle",
    ):
        assert key in timing


async def test_listed_cells_run_in_notebook_order(lapd_notebook, lapd_start, lapd_wait):
    path = lapd_notebook(["print('a')", "print('b')", "print('c')"])
    run = await lapd_start("nb.ipynb", cells=["c2", "c0"])
    assert [c["id"] for c in run["cells"]] == ["c0", "c2"]
    run = await lapd_wait(run["id"])
    assert run["status"] == "completed"
    nb = read_nb(path)
    assert nb.cells[0].outputs[0]["text"] == "a\n"
    assert nb.cells[1].outputs == []
    assert nb.cells[2].outputs[0]["text"] == "c\n"
    # the kernel's own counter numbers the cells, in execution order
    assert nb.cells[2].execution_count == nb.cells[0].execution_count + 1


async def test_failing_cell_stops_the_run(lapd_notebook, lapd_start, lapd_wait):
    # the cell after the error never reaches the kernel (it writes a file if it runs)
    after = "print('after')\nopen('after-ran', 'w').close()"
    path = lapd_notebook(["print('before')", "1/0", after])
    run = await lapd_wait((await lapd_start("nb.ipynb"))["id"])
    assert run["status"] == "failed"
    assert "ZeroDivisionError" in run["error"]
    assert [c["status"] for c in run["cells"]] == ["done", "error", "skipped"]
    nb = read_nb(path)
    assert nb.cells[1].outputs[0]["output_type"] == "error"
    assert nb.cells[1].outputs[0]["ename"] == "ZeroDivisionError"
    assert nb.cells[2].outputs == []
    assert not (path.parent / "after-ran").exists()


async def test_allow_errors_runs_on(lapd_notebook, lapd_start, lapd_wait):
    path = lapd_notebook(["1/0", "print('after')"])
    run = await lapd_start("nb.ipynb", allow_errors=True)
    run = await lapd_wait(run["id"])
    assert run["status"] == "completed"
    assert [c["status"] for c in run["cells"]] == ["error", "done"]
    assert read_nb(path).cells[1].outputs[0]["text"] == "after\n"


async def test_a_cell_tagged_skip_execution_is_left_as_it_was(lapd_notebook, lapd_start, lapd_wait):
    """Not run, as nbclient and papermill leave it: its outputs, count and timing stay."""
    path = lapd_notebook(["print(1)", "print(2)", "print(3)"])
    nb = read_nb(path)
    skipped = nb.cells[1]
    skipped.metadata["tags"] = ["skip-execution"]
    skipped.metadata["execution"] = {"shell.execute_reply": "2020-01-01T00:00:00.000000Z"}
    skipped.outputs = [nbformat.v4.new_output("stream", name="stdout", text="from before\n")]
    skipped.execution_count = 41
    nbformat.write(nb, path)
    run = await lapd_wait((await lapd_start("nb.ipynb"))["id"])
    assert run["status"] == "completed"
    assert [c["status"] for c in run["cells"]] == ["done", "skipped", "done"]
    cells = read_nb(path).cells
    assert [[o["text"] for o in c.outputs] for c in cells] == [["1\n"], ["from before\n"], ["3\n"]]
    assert cells[1].execution_count == 41
    assert cells[1].metadata == skipped.metadata


async def test_a_cell_tagged_raises_exception_does_not_stop_the_run(
    lapd_notebook, lapd_start, lapd_wait
):
    """A cell that shows an error on purpose: JupyterLab and nbclient go on after it."""
    path = lapd_notebook(["int('x')", "print('after')", "1/0", "print('not reached')"])
    nb = read_nb(path)
    nb.cells[0].metadata["tags"] = ["raises-exception"]
    nbformat.write(nb, path)
    run = await lapd_wait((await lapd_start("nb.ipynb"))["id"])
    # the untagged error still stops the run
    assert run["status"] == "failed" and "ZeroDivisionError" in run["error"]
    assert [c["status"] for c in run["cells"]] == ["error", "done", "error", "skipped"]
    cells = read_nb(path).cells
    assert cells[0].outputs[0]["ename"] == "ValueError"
    assert cells[1].outputs[0]["text"] == "after\n"
    assert cells[3].outputs == []


async def test_cancel_interrupts_and_skips(
    jp_fetch, lapd_app, lapd_notebook, lapd_start, lapd_wait
):
    path = lapd_notebook(["print('started', flush=True)\nimport time\ntime.sleep(120)", "print(2)"])
    run = await lapd_start("nb.ipynb")
    await lapd_wait(run["id"], cell=("c0", "running"))
    active = lapd_app.manager.active_run(run["id"])
    await wait_until(lambda: active.model.outputs("c0") != [])  # the cell is in its sleep
    response = await jp_fetch("lapd", "api", "runs", run["id"], "cancel", method="POST", body="")
    assert response.code == 202
    run = await lapd_wait(run["id"])
    assert run["status"] == "cancelled"
    assert [c["status"] for c in run["cells"]] == ["error", "skipped"]
    outputs = read_nb(path).cells[0].outputs
    assert outputs[0]["text"] == "started\n"
    assert outputs[-1]["ename"] == "KeyboardInterrupt"


async def test_a_cancel_once_the_next_cell_was_sent_stops_that_cell_too(
    monkeypatch, jp_fetch, lapd_app, lapd_notebook, lapd_start, lapd_wait
):
    # The server reads the first cell's idle message 3 s late: meanwhile the second cell
    # (a long sleep) has been sent on the first one's reply and is running, while the
    # first is still the run's running cell. A cancel then must stop the second as well,
    # and keep its output.
    read_first_idle_late(monkeypatch, 3)
    sent: list[str] = []
    record_sent_cells(monkeypatch, sent)
    first = "print('a', flush=True)\nimport time\ntime.sleep(0.3)"
    sleep = "import time\ntime.sleep(60)\nprint('slept')"
    path = lapd_notebook([first, sleep, "print('c')"])
    run = await lapd_start("nb.ipynb")
    await wait_until(lambda: len(sent) == 2)
    await asyncio.sleep(0.3)  # the second cell is in its sleep
    assert lapd_app.manager.active_run(run["id"]).record.current_cell_id == "c0"
    await jp_fetch("lapd", "api", "runs", run["id"], "cancel", method="POST", body="")
    run = await lapd_wait(run["id"], timeout=30)
    assert run["status"] == "cancelled"
    assert [c["status"] for c in run["cells"]] == ["done", "error", "skipped"]
    nb = read_nb(path)
    assert [o["text"] for o in nb.cells[0].outputs] == ["a\n"]
    assert nb.cells[1].outputs[-1]["ename"] == "KeyboardInterrupt"
    assert nb.cells[2].outputs == []


async def test_an_aborted_runs_note_comes_after_every_output_of_its_cell(
    lapd_app, lapd_notebook, lapd_start, lapd_wait
):
    # A cell printing flat out: when the run is aborted (as at a server shutdown), the
    # cell's reading task may still take in messages before the cancellation reaches it;
    # the note saying why the run ended must still be the cell's last output.
    printer = (
        "import time\nend = time.time() + 30\nwhile time.time() < end:\n    print(1, flush=True)"
    )
    path = lapd_notebook([printer, "print('never')"])
    for _ in range(3):  # several abort points, each with messages in flight
        run = await lapd_start("nb.ipynb", kernel="new")
        run = await lapd_wait(run["id"], cell=("c0", "running"))
        await asyncio.sleep(0.3)
        active = lapd_app.manager.active_run(run["id"])
        assert active is not None
        active.abort(RunStatus.INTERRUPTED, "the server shut down during the run")
        run = await lapd_wait(run["id"], timeout=30)
        assert run["status"] == "interrupted"
        outputs = read_nb(path).cells[0].outputs
        assert [o["name"] for o in outputs] == ["stdout", "stderr"]
        assert "the server shut down" in outputs[-1]["text"]


async def test_second_run_on_busy_notebook_is_409(lapd_notebook, lapd_start, lapd_wait, jp_fetch):
    lapd_notebook(["import time; time.sleep(30)"])
    run = await lapd_start("nb.ipynb")
    with pytest.raises(HTTPClientError) as e:
        await lapd_start("nb.ipynb")
    assert e.value.code == 409
    assert run["id"] in json.loads(e.value.response.body)["message"]
    await jp_fetch("lapd", "api", "runs", run["id"], "cancel", method="POST", body="")
    assert (await lapd_wait(run["id"]))["status"] == "cancelled"


async def test_a_notebook_named_another_way_is_the_same_busy_notebook(
    lapd_notebook, lapd_start, lapd_wait, jp_fetch, jp_root_dir
):
    lapd_notebook(["import time; time.sleep(30)"])
    (jp_root_dir / "a").mkdir()
    (jp_root_dir / "link.ipynb").symlink_to(jp_root_dir / "nb.ipynb")
    run = await lapd_start("./nb.ipynb")
    assert run["path"] == "nb.ipynb"  # as the contents manager names it
    for other in ("nb.ipynb", "a/../nb.ipynb", "/a//..//nb.ipynb", "link.ipynb"):
        with pytest.raises(HTTPClientError) as e:
            await lapd_start(other)
        assert e.value.code == 409, other
        assert run["id"] in json.loads(e.value.response.body)["message"]
    with pytest.raises(HTTPClientError) as e:
        await lapd_start("a/../../nb.ipynb")
    assert e.value.code == 403
    await jp_fetch("lapd", "api", "runs", run["id"], "cancel", method="POST", body="")
    assert (await lapd_wait(run["id"]))["status"] == "cancelled"
    listed = json.loads((await jp_fetch("lapd", "api", "runs")).body)["runs"]
    assert [r["path"] for r in listed] == ["nb.ipynb"]


@pytest.fixture
def jp_server_config(jp_server_config):
    # one run at a time, so that a second run is queued (applies to this module)
    jp_server_config["Lapd"]["max_concurrent_runs"] = 1
    return jp_server_config


async def test_runs_beyond_the_limit_are_queued(lapd_notebook, lapd_start, lapd_wait, jp_fetch):
    lapd_notebook(["import time; time.sleep(1); print('one')"], name="one.ipynb")
    path = lapd_notebook(["print('two')"], name="two.ipynb")
    first = await lapd_start("one.ipynb")
    second = await lapd_start("two.ipynb")
    assert second["status"] == "queued"
    response = await jp_fetch("lapd", "api", "runs", params={"status": "queued"})
    assert [r["id"] for r in json.loads(response.body)["runs"]] == [second["id"]]
    assert (await lapd_wait(first["id"]))["status"] == "completed"
    assert (await lapd_wait(second["id"]))["status"] == "completed"
    assert read_nb(path).cells[0].outputs[0]["text"] == "two\n"
    response = await jp_fetch("lapd", "api", "runs")
    assert [r["id"] for r in json.loads(response.body)["runs"]] == [second["id"], first["id"]]


async def test_cancel_a_queued_run(lapd_notebook, lapd_start, lapd_wait, jp_fetch):
    lapd_notebook(["import time; time.sleep(60)"], name="one.ipynb")
    path = lapd_notebook(["print('two')"], name="two.ipynb")
    before = path.read_bytes()
    first = await lapd_start("one.ipynb")
    second = await lapd_start("two.ipynb")
    await jp_fetch("lapd", "api", "runs", second["id"], "cancel", method="POST", body="")
    run = await lapd_wait(second["id"])
    assert run["status"] == "cancelled"
    assert [c["status"] for c in run["cells"]] == ["skipped"]
    assert path.read_bytes() == before
    await jp_fetch("lapd", "api", "runs", first["id"], "cancel", method="POST", body="")
    await lapd_wait(first["id"])


async def test_runs_leave_the_servers_signal_handlers_alone(lapd_notebook, lapd_start, lapd_wait):
    """nbclient's own setup swaps SIGINT/SIGTERM handlers on the loop; a run must not,
    or Ctrl-C and SIGTERM would stop reaching the server after its first run."""
    loop = asyncio.get_running_loop()
    marker = []
    loop.add_signal_handler(signal.SIGTERM, marker.append, "term")
    try:
        before_int = signal.getsignal(signal.SIGINT)
        lapd_notebook(["print(1)"])
        run = await lapd_wait((await lapd_start("nb.ipynb", kernel="new"))["id"])
        assert run["status"] == "completed"
        assert signal.getsignal(signal.SIGINT) == before_int
        handle = loop._signal_handlers.get(signal.SIGTERM)  # asyncio's own registry
        assert handle is not None and handle._args == ("term",)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


async def test_outputs_reach_the_journal_while_the_cell_still_runs(
    tmp_path, lapd_app, lapd_notebook, lapd_start, lapd_wait
):
    release = tmp_path / "release"
    lapd_notebook(["print('early', flush=True)\n" + held_until(release)])
    run = await lapd_start("nb.ipynb")
    store = lapd_app.manager.store

    def journaled() -> bool:
        return any(e["type"] == "output" for e in store.read_events(run["id"]))

    await wait_until(journaled)
    assert (await lapd_get_status(lapd_wait, run["id"])) == "running"
    release.touch()
    assert (await lapd_wait(run["id"]))["status"] == "completed"


async def lapd_get_status(lapd_wait, run_id: str) -> str:
    run = await lapd_wait(run_id, statuses={"running", "completed"})
    return str(run["status"])


async def test_check_auth_script_finds_every_endpoint_authenticated(tmp_path):
    repo = Path(__file__).parents[2]
    script = repo / ".github" / "scripts" / "check_auth.py"
    env = {**os.environ, "PYTHONPATH": str(repo), "JUPYTER_DATA_DIR": str(tmp_path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    assert b"All endpoints of the extension require authentication" in out
