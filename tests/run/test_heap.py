"""A started server, and a headless run, leave the objects they hold then out of Python's
full garbage collections; what a run creates afterwards is still collected."""

from __future__ import annotations

import asyncio
import gc
import io
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import make_notebook, read_nb

from jupyter_lapd.cli.runheadless import HeadlessProgress
from jupyter_lapd.headless.headlessrun import HeadlessRun
from jupyter_lapd.headless.options import HeadlessOptions


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """This process hosts every test: whatever a test froze is given back after it."""
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    jp_server_config["Lapd"].pop("freeze_startup_objects")  # the default, as users have it
    return jp_server_config


def tracked(obj: Any) -> bool:
    """Does a full collection still walk ``obj``? (Frozen objects are in no generation.)"""
    return any(o is obj for o in gc.get_objects())


async def test_a_started_server_freezes_what_it_holds_but_not_a_run(
    jp_serverapp, lapd_app, lapd_notebook, lapd_start, lapd_wait
):
    assert gc.get_freeze_count() == 0 and tracked(lapd_app.manager)
    await jp_serverapp.extension_manager.start_all_extensions()
    assert gc.get_freeze_count() > 0
    assert not tracked(lapd_app.manager) and not tracked(jp_serverapp)
    # a run started afterwards is collected once it is over, sockets and all
    path = lapd_notebook(["import time\ntime.sleep(1)\nprint('ran')"])
    run = await lapd_start("nb.ipynb")
    active = lapd_app.manager.active_run(run["id"])
    assert tracked(active)
    gone = weakref.ref(active)
    del active
    assert (await lapd_wait(run["id"]))["status"] == "completed"
    while lapd_app.manager.active_run(run["id"]) is not None:  # its last write and save
        await asyncio.sleep(0.05)
    gc.collect()
    assert gone() is None
    assert read_nb(path).cells[0].outputs[0]["text"] == "ran\n"


async def test_a_server_configured_not_to_freeze_does_not(
    jp_server_config, jp_configurable_serverapp
):
    jp_server_config["Lapd"]["freeze_startup_objects"] = False
    app = jp_configurable_serverapp(config=jp_server_config)
    await app.extension_manager.start_all_extensions()
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("freeze", [True, False])
async def test_a_headless_run_freezes_what_it_holds_before_the_first_cell(tmp_path: Path, freeze):
    path = tmp_path / "nb.ipynb"
    nbformat.write(make_notebook(["import gc\nprint(gc.get_freeze_count())"]), path)
    options = HeadlessOptions(notebook=str(path), freeze_startup_objects=freeze)
    out = io.StringIO()
    assert await HeadlessRun(options, HeadlessProgress(out)).execute() == 0, out.getvalue()
    assert (gc.get_freeze_count() > 0) == freeze
    assert read_nb(path).cells[0].outputs[0]["text"] == "0\n"  # the kernel is not ours
