"""Configuration traits, and run records that outlive the server process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from jupyter_server.extension.application import ExtensionApp
from traitlets import TraitError

from jupyter_lapd.config import CONFIG_FILE_NAME
from jupyter_lapd.journal.store import Store
from jupyter_lapd.models import CellRecord, CellStatus, RunRecord, RunStatus
from jupyter_lapd.server.app import Lapd, default_db_path


def lapd_of(serverapp):
    return serverapp.extension_manager.extension_points["jupyter_lapd"].app


async def test_traits_are_read_from_the_command_line(jp_configurable_serverapp, tmp_path):
    db = tmp_path / "elsewhere" / "lapd.db"
    app = jp_configurable_serverapp(
        argv=[
            "--Lapd.flush_interval=0.5",
            "--Lapd.max_concurrent_runs=2",
            "--Lapd.history_days=0",
            "--Lapd.on_server_restart=mark_interrupted",
            f"--Lapd.db_path={db}",
            "--Lapd.max_output_bytes=65536",
        ]
    )
    lapd = lapd_of(app)
    assert (lapd.flush_interval, lapd.max_concurrent_runs, lapd.history_days) == (0.5, 2, 0)
    assert lapd.db_path == str(db) and db.exists()
    assert lapd.manager.flush_interval == 0.5 and lapd.manager.max_concurrent_runs == 2
    assert lapd.max_output_bytes == lapd.manager.max_output_bytes == 65536


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("flush_interval", 0, "> 0"),
        ("max_concurrent_runs", -1, ">= 0"),
        ("history_days", -2, ">= 0"),
        ("db_path", ":memory:", "must be a file path"),
        ("max_output_bytes", 10, ">= 1024"),
        ("on_server_restart", "explode", "on_server_restart"),
    ],
)
def test_invalid_settings_name_the_rule(name, value, rule):
    with pytest.raises(TraitError, match=rule.replace("(", r"\(")):
        Lapd(**{name: value})


def test_default_db_path_is_under_the_jupyter_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    assert default_db_path() == str(tmp_path / "lapd" / "runs.db")
    assert Lapd().db_path == str(tmp_path / "lapd" / "runs.db")


async def test_runs_survive_a_restart_and_active_ones_become_interrupted(
    jp_configurable_serverapp, jp_server_config, jp_root_dir
):
    db = jp_server_config["Lapd"]["db_path"]
    store = Store(db)
    root = str(jp_root_dir.resolve())
    done = RunRecord(path="a.ipynb", cells=[CellRecord("c0", CellStatus.DONE)])
    done.status = RunStatus.COMPLETED
    busy = RunRecord(path="b.ipynb", cells=[CellRecord("c0", CellStatus.RUNNING), CellRecord("c1")])
    busy.status = RunStatus.RUNNING
    other_server = RunRecord(path="c.ipynb", cells=[])
    other_server.status = RunStatus.RUNNING
    store.save_run(done, root)
    store.save_run(busy, root)
    store.save_run(other_server, "/some/other/root")
    store.close()

    app = jp_configurable_serverapp()  # a new server process on the same database
    await app.extension_manager.start_all_extensions()
    manager = lapd_of(app).manager
    run = await manager.get_run(busy.id)
    assert run.status == RunStatus.INTERRUPTED
    assert "server stopped" in (run.error or "")
    assert [c.status for c in run.cells] == [CellStatus.SKIPPED, CellStatus.SKIPPED]
    assert (await manager.get_run(done.id)).status == RunStatus.COMPLETED
    events = await manager.db_call(manager.store.read_events, busy.id, 0)
    assert events[-1]["type"] == "run" and events[-1]["run"]["status"] == "interrupted"
    listed = await manager.list_summaries()
    assert {r["id"] for r in listed} == {done.id, busy.id}  # not the other server's run


async def test_server_shutdown_interrupts_runs_and_writes_their_outputs(
    jp_serverapp, lapd_app, lapd_notebook, lapd_start, lapd_wait
):
    path = lapd_notebook(["print('partial', flush=True)\nimport time\ntime.sleep(60)", "print(2)"])
    run = await lapd_start("nb.ipynb")
    await lapd_wait(run["id"], cell=("c0", "running"))
    manager = lapd_app.manager
    while "partial" not in str(manager.active_run(run["id"]).model.outputs("c0")):
        await asyncio.sleep(0.05)
    await lapd_app.stop_extension()
    record = Store(lapd_app.db_path).get_run(run["id"])
    assert record is not None and record.status == RunStatus.INTERRUPTED
    assert "shut down" in (record.error or "")
    import nbformat

    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].outputs[0]["text"] == "partial\n"


def test_the_docs_document_every_setting():
    # docs/configuration.md generates the reference from the traits (autodoc-traits):
    # each setting shows its help, which must say what it is
    page = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    assert ".. autoconfigurable:: jupyter_lapd.server.app.Lapd" in page
    inherited = set(ExtensionApp.class_traits())
    for name, trait in Lapd.class_traits(config=True).items():
        if name not in inherited:  # jupyter_lapd's own, RunSettings' included
            assert len(trait.help.split()) >= 5, name


def test_the_cli_reads_the_extensions_own_config_file():
    # jupyter lapd names the file without importing the server extension (settings.py)
    assert Lapd().config_file_name == CONFIG_FILE_NAME
