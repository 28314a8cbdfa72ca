"""While a run reads its kernel, it keeps the kernel's activity for the server, which
watches the kernel again once the run ends."""

from __future__ import annotations

import json

from conftest import held_until, wait_until


async def test_the_run_records_the_kernels_activity_and_hands_the_watching_back(
    jp_serverapp, jp_fetch, tmp_path, lapd_notebook, lapd_start, lapd_wait
):
    release = tmp_path / "release"
    lapd_notebook(["print('go', flush=True)\n" + held_until(release), "x = 1"])
    run = await lapd_start("nb.ipynb")  # the session kernel: it outlives the run
    running = await lapd_wait(run["id"], cell=("c0", "running"))
    kernel_id = running["kernel_id"]
    kernel = jp_serverapp.kernel_manager.get_kernel(kernel_id)
    await wait_until(lambda: kernel.execution_state == "busy")
    # the server does not read the kernel's messages a second time meanwhile (a change
    # of Jupyter Server's watcher attribute fails here)
    assert kernel._activity_stream is None
    model = json.loads((await jp_fetch("api", "kernels", kernel_id)).body)
    assert model["execution_state"] == "busy"
    busy_since = kernel.last_activity
    release.touch()

    assert (await lapd_wait(run["id"]))["status"] == "completed"
    assert kernel.execution_state == "idle" and kernel.last_activity > busy_since
    assert kernel._activity_stream is not None  # watched by the server again

    # ... and the server's own watcher follows another client's request
    client = kernel.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=30)
        idle_since = kernel.last_activity
        client.execute("import time; time.sleep(1)")
        await wait_until(lambda: kernel.execution_state == "busy")
        await wait_until(lambda: kernel.execution_state == "idle")
        assert kernel.last_activity > idle_since
    finally:
        client.stop_channels()
