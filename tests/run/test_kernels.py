"""Kernel modes: the notebook's own session kernel, or a fresh one from the kernel manager."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from conftest import held_until, read_nb


async def test_session_mode_creates_the_notebook_session_and_keeps_state(
    jp_fetch, jp_root_dir, lapd_notebook, lapd_start, lapd_wait
):
    path = lapd_notebook(["import os\nsecret = 41\nprint(os.getcwd())"], name="sub/nb.ipynb")
    run = await lapd_wait((await lapd_start("sub/nb.ipynb"))["id"])
    assert run["status"] == "completed" and run["kernel_mode"] == "session"
    # the kernel works in the notebook's own folder, as in JupyterLab
    assert read_nb(path).cells[0].outputs[0]["text"].strip() == str((jp_root_dir / "sub").resolve())
    sessions = json.loads((await jp_fetch("api", "sessions")).body)
    assert [(s["path"], s["kernel"]["id"]) for s in sessions] == [
        ("sub/nb.ipynb", run["kernel_id"])
    ]
    # a second run of the same notebook finds the same kernel, with its state
    lapd_notebook(["print(secret + 1)"], name="sub/nb.ipynb")
    again = await lapd_wait((await lapd_start("sub/nb.ipynb"))["id"])
    assert again["kernel_id"] == run["kernel_id"]
    assert read_nb(path).cells[0].outputs[0]["text"] == "42\n"
    # execution counts are the kernel's own: they keep counting across runs
    assert again["cells"][0]["execution_count"] == run["cells"][0]["execution_count"] + 1


async def test_session_mode_uses_an_existing_session(
    jp_fetch, jp_serverapp, lapd_notebook, lapd_start, lapd_wait
):
    path = lapd_notebook(["print(value)"])
    response = await jp_fetch(
        "api",
        "sessions",
        method="POST",
        body=json.dumps(
            {
                "path": "nb.ipynb",
                "type": "notebook",
                "name": "nb.ipynb",
                "kernel": {"name": "python3"},
            }
        ),
    )
    kernel_id = json.loads(response.body)["kernel"]["id"]
    # the user's own interactive state, built before the background run
    await execute_in(jp_serverapp.kernel_manager.get_kernel(kernel_id), "value = 7")
    run = await lapd_wait((await lapd_start("nb.ipynb"))["id"])
    assert run["kernel_id"] == kernel_id and run["status"] == "completed"
    assert read_nb(path).cells[0].outputs[0]["text"] == "7\n"


async def execute_in(km, code: str) -> None:
    """Run code in a kernel through a client of its own, as a user's cell would."""
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        reply = await kc.execute_interactive(code, timeout=60)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()


async def test_new_mode_starts_a_fresh_kernel_shown_in_running_kernels(
    jp_fetch, tmp_path, lapd_notebook, lapd_start, lapd_wait
):
    release = tmp_path / "release"
    fresh = "print('fresh' if 'value' not in dir() else 'stale', flush=True)\n"
    path = lapd_notebook([fresh + held_until(release)])
    run = await lapd_start("nb.ipynb", kernel="new")
    run = await lapd_wait(run["id"], cell=("c0", "running"))
    kernels = json.loads((await jp_fetch("api", "kernels")).body)
    assert run["kernel_id"] in [k["id"] for k in kernels]
    release.touch()
    assert run["kernel_mode"] == "new" and run["kernel_name"] == "python3"
    run = await lapd_wait(run["id"])
    assert run["status"] == "completed"
    assert read_nb(path).cells[0].outputs[0]["text"] == "fresh\n"
    sessions = json.loads((await jp_fetch("api", "sessions")).body)
    assert sessions == []  # a fresh kernel does not take over the notebook's session

    await gone(jp_fetch, run["kernel_id"])  # shut down once its run ended


async def kernel_ids(jp_fetch: Any) -> list[str]:
    return [k["id"] for k in json.loads((await jp_fetch("api", "kernels")).body)]


async def gone(jp_fetch: Any, kernel_id: str, timeout: float = 30) -> None:
    """Wait until the server no longer lists the kernel."""
    for _ in range(int(timeout / 0.05)):
        if kernel_id not in await kernel_ids(jp_fetch):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"kernel {kernel_id} still running after {timeout} s")


async def test_a_run_ends_without_waiting_for_its_kernel_to_exit(
    jp_fetch, jp_serverapp, tmp_path, lapd_notebook, lapd_start, lapd_wait
):
    """A kernel slow to exit (here an exit handler that never returns; ipykernel itself
    now and then hangs on its way out) does not hold back the run's end: its file and
    its status are final at once, and jupyter_client terminates the kernel later."""
    release = tmp_path / "release"
    never = "import atexit, time\natexit.register(time.sleep, 600)\n"
    lapd_notebook([never + held_until(release)])
    run = await lapd_start("nb.ipynb", kernel="new")
    run = await lapd_wait(run["id"], cell=("c0", "running"))
    # jupyter_client terminates a kernel still there after half of this
    jp_serverapp.kernel_manager.get_kernel(run["kernel_id"]).shutdown_wait_time = 20
    release.touch()
    run = await lapd_wait(run["id"])
    assert run["status"] == "completed"
    assert run["kernel_id"] in await kernel_ids(jp_fetch)  # still on its way out
    await gone(jp_fetch, run["kernel_id"])


HIST_FILE = "from IPython import get_ipython\nprint(get_ipython().history_manager.hist_file)"


async def test_a_fresh_kernel_keeps_its_history_in_memory_a_session_kernel_does_not(
    lapd_notebook, lapd_start, lapd_wait
):
    # IPython writes every cell's input to its history database after the cell; a run's
    # own kernel keeps it in memory (as nbclient does), the user's session kernel is theirs
    path = lapd_notebook([HIST_FILE])
    run = await lapd_wait((await lapd_start("nb.ipynb", kernel="new"))["id"])
    assert run["status"] == "completed"
    assert read_nb(path).cells[0].outputs[0]["text"] == ":memory:\n"
    run = await lapd_wait((await lapd_start("nb.ipynb"))["id"])
    assert run["status"] == "completed" and run["kernel_mode"] == "session"
    assert read_nb(path).cells[0].outputs[0]["text"].strip().endswith("history.sqlite")


async def test_kernel_arguments_follow_the_setting_and_the_kernelspec(jp_serverapp, tmp_path):
    from jupyter_client.kernelspec import KernelSpecManager

    from jupyter_lapd.run.kernels import KernelProvider

    kernels = KernelProvider(
        jp_serverapp.kernel_manager, None, jp_serverapp.kernel_spec_manager, ":memory:"
    )
    assert await kernels.kernel_arguments(None) == ["--HistoryManager.hist_file=:memory:"]
    assert await kernels.kernel_arguments("python3") == ["--HistoryManager.hist_file=:memory:"]
    kernels.ipython_hist_file = str(tmp_path / "h.sqlite")
    assert await kernels.kernel_arguments("python3") == [
        f"--HistoryManager.hist_file={tmp_path / 'h.sqlite'}"
    ]
    kernels.ipython_hist_file = ""  # IPython's own setting: no argument at all
    assert await kernels.kernel_arguments("python3") == []
    # a kernel that is not ipykernel would not know the option
    spec_dir = tmp_path / "kernels" / "other"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps({"argv": ["other-kernel", "{connection_file}"], "display_name": "Other"})
    )
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    other = KernelProvider(jp_serverapp.kernel_manager, None, specs, ":memory:")
    assert await other.kernel_arguments("other") == []
    assert await other.kernel_arguments("no-such-kernel") == []
