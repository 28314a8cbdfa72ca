"""jupytext: paired and text notebooks are read and written through its contents manager.

The server loads the real jupytext server extension (``jupyterlab_jupytext``, enabled on
install the way its package enables it) or, in one test, jupytext's synchronous contents
manager configured by hand (``ServerApp.contents_manager_class``), jupytext's other
documented setup.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import pytest
from conftest import make_notebook, read_nb, wait_until
from tornado.httpclient import HTTPClientError

from jupyter_lapd.notebook.jupytextpairs import ContentsDestination, is_jupytext

# jupyterlab_jupytext names its loader the old way; the server warns, and loads it
pytestmark = pytest.mark.filterwarnings(
    "ignore:A `_load_jupyter_server_extension` function was not found:DeprecationWarning"
)

PAIRED = "ipynb,py:percent"
# the second cell waits for a file to appear, so that the test acts while it runs
WAIT_FOR_GO = (
    "import os, time\nprint('wait' + 'ing', flush=True)\n"
    "while not os.path.exists('go'):\n    time.sleep(0.05)\nprint('go')"
)


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(jp_server_config)
    config["ServerApp"]["jpserver_extensions"]["jupyterlab_jupytext"] = True
    return config


@pytest.fixture
def server(jp_serverapp: Any, jp_asyncio_loop: Any) -> Any:
    """The server once every extension has started, as in `jupyter lab`: jupytext's
    extension has replaced the contents manager by then (it loads after this one)."""
    jp_asyncio_loop.run_until_complete(jp_serverapp.extension_manager.start_all_extensions())
    assert is_jupytext(jp_serverapp.contents_manager)
    return jp_serverapp


async def put(jp_fetch: Any, path: str, content: Any) -> None:
    """A save through the contents API, the way JupyterLab writes a notebook."""
    body = json.dumps({"type": "notebook", "format": "json", "content": content})
    await jp_fetch("api", "contents", path, method="PUT", body=body)


async def get(jp_fetch: Any, path: str) -> dict[str, Any]:
    """The notebook as JupyterLab opens it (raises on jupytext's "older than" refusal)."""
    response = await jp_fetch("api", "contents", path, params={"hash": "1"})
    return json.loads(response.body)  # type: ignore[no-any-return]


async def pair(jp_fetch: Any, cells: list[Any], name: str = "nb") -> None:
    """A notebook paired as JupyterLab's "Pair with percent script" leaves it: saved
    through jupytext's contents manager with its formats in the metadata."""
    nb = make_notebook(cells)
    nb.metadata["jupytext"] = {"formats": PAIRED}
    await put(jp_fetch, f"{name}.ipynb", nb)


def text_of(outputs: list[Any]) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")


async def last_flushed(lapd_app: Any, run_id: str) -> dict[str, Any]:
    manager = lapd_app.manager
    events = await manager.db_call(manager.store.read_events, run_id, 0)
    return [e for e in events if e["type"] == "flushed"][-1]


async def destinations(lapd_app: Any, run_id: str) -> set[str | None]:
    manager = lapd_app.manager
    events = await manager.db_call(manager.store.read_events, run_id, 0)
    return {e.get("destination") for e in events if e["type"] == "flushed"}


async def written(lapd_app: Any, run_id: str, text: str, timeout: float = 60) -> None:
    """Wait until the run's output holding ``text`` is in the files, and the write that put
    it there has ended: the contents manager rewrites files in place, so reading (or
    editing) one while it saves would catch it half written."""
    manager = lapd_app.manager
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        events = await manager.db_call(manager.store.read_events, run_id, 0)
        seqs = [e["seq"] for e in events if e["type"] == "output" and text in json.dumps(e)]
        run = manager.active_run(run_id)
        flushed = run.last_flush if run is not None else None
        if seqs and flushed is not None and flushed["upto"] >= seqs[0]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} was not written in time")


def unchanged(*paths: Path) -> dict[Path, tuple[bytes, int] | None]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) if p.exists() else None for p in paths}


async def test_a_paired_notebook_is_written_through_jupytext(
    server, jp_fetch, jp_root_dir, lapd_app, lapd_start, lapd_wait
):
    await pair(
        jp_fetch,
        ["print('one')", WAIT_FOR_GO, "print('three')", "print('four')", ("markdown", "# notes")],
    )
    ipynb, py = jp_root_dir / "nb.ipynb", jp_root_dir / "nb.py"
    run = await lapd_start("nb.ipynb", cells=["c0", "c1", "c2"])
    await written(lapd_app, run["id"], "waiting")
    assert text_of(read_nb(ipynb).cells[1].outputs) == "waiting\n"
    assert "waiting" not in py.read_text()  # outputs go to the .ipynb only

    # meanwhile, the user edits a cell in the .py with a text editor...
    py.write_text(py.read_text().replace("print('four')", "print('four, edited in the .py')"))
    # ...and JupyterLab, holding no outputs, saves an edit of the markdown cell
    content = (await get(jp_fetch, "nb.ipynb"))["content"]
    assert content["cells"][3]["source"] == "print('four, edited in the .py')"
    content["cells"][4]["source"] = "# notes, edited in JupyterLab"
    for cell in content["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    await put(jp_fetch, "nb.ipynb", content)
    # the save kept the run's outputs (the cell is silent: no write of the run since)
    on_disk = read_nb(ipynb)
    assert text_of(on_disk.cells[0].outputs) == "one\n"
    assert text_of(on_disk.cells[1].outputs) == "waiting\n"

    (jp_root_dir / "go").touch()
    run = await lapd_wait(run["id"])
    assert run["status"] == "completed", run

    nb = read_nb(ipynb)
    assert [text_of(c.get("outputs", [])) for c in nb.cells] == [
        "one\n",
        "waiting\ngo\n",
        "three\n",
        "",
        "",
    ]
    assert [c.get("execution_count") for c in nb.cells[:3]] == [1, 2, 3]
    assert nb.cells[3].source == "print('four, edited in the .py')"
    assert nb.cells[4].source == "# notes, edited in JupyterLab"
    text = py.read_text()
    assert "print('four, edited in the .py')" in text
    assert "# notes, edited in JupyterLab" in text
    assert "waiting" not in text
    # jupytext saved the text file after the .ipynb, and both files hold the same inputs
    assert py.stat().st_mtime_ns >= ipynb.stat().st_mtime_ns
    from_py = jupytext.read(py)
    assert [c.source for c in from_py.cells] == [c.source for c in nb.cells]
    # the pair opens through the contents manager, from either file, with the outputs
    for path in ("nb.ipynb", "nb.py"):
        opened = await get(jp_fetch, path)
        assert text_of(opened["content"]["cells"][1]["outputs"]) == "waiting\ngo\n"
        if path == "nb.ipynb":  # what JupyterLab's document compares its saves with
            assert opened["hash"] == (await last_flushed(lapd_app, run["id"]))["hash"]
    assert await destinations(lapd_app, run["id"]) == {"contents"}


async def test_a_text_notebook_runs_from_its_path(
    server, jp_fetch, jp_root_dir, lapd_app, lapd_start, lapd_wait
):
    # a percent script paired with an .ipynb that does not exist yet
    nb = make_notebook(["print('one')", WAIT_FOR_GO])
    nb.metadata["jupytext"] = {"formats": PAIRED}
    py, ipynb = jp_root_dir / "script.py", jp_root_dir / "script.ipynb"
    jupytext.write(nb, py, fmt="py:percent")
    assert not ipynb.exists()

    run = await lapd_start("script.py")
    assert run["path"] == "script.py"
    # the cells got ids on disk (in the new .ipynb) before the run started
    ids = [c["id"] for c in run["cells"]]
    assert [c.id for c in read_nb(ipynb).cells] == ids
    await written(lapd_app, run["id"], "waiting")

    # a second run of the same notebook, by its other file, is refused
    with pytest.raises(HTTPClientError) as err:
        await lapd_start("script.ipynb")
    assert err.value.code == 409

    # JupyterLab has the .py open and saves it with no outputs: the run's are kept
    content = (await get(jp_fetch, "script.py"))["content"]
    for cell in content["cells"]:
        cell["outputs"] = []
    await put(jp_fetch, "script.py", content)
    assert text_of(read_nb(ipynb).cells[1].outputs) == "waiting\n"

    (jp_root_dir / "go").touch()
    run = await lapd_wait(run["id"])
    assert run["status"] == "completed", run
    on_disk = read_nb(ipynb)
    assert [c.id for c in on_disk.cells] == ids
    assert [text_of(c.outputs) for c in on_disk.cells] == ["one\n", "waiting\ngo\n"]
    assert "waiting" not in py.read_text()
    assert [c.source for c in jupytext.read(py).cells] == [c.source for c in on_disk.cells]
    assert py.stat().st_mtime_ns >= ipynb.stat().st_mtime_ns
    opened = (await get(jp_fetch, "script.py"))["content"]
    assert [text_of(c["outputs"]) for c in opened["cells"]] == ["one\n", "waiting\ngo\n"]
    assert await destinations(lapd_app, run["id"]) == {"contents"}


async def test_notebooks_that_are_not_paired_are_written_directly(
    server, jp_root_dir, lapd_app, lapd_notebook, lapd_start, lapd_wait
):
    route = lapd_app.manager.route
    lapd_notebook(["print('plain')"], name="plain.ipynb")
    # paired by a jupytext.toml, not by the notebook's metadata
    (jp_root_dir / "by_config").mkdir()
    (jp_root_dir / "by_config" / "jupytext.toml").write_text(f'formats = "{PAIRED}"\n')
    lapd_notebook(["print(1)"], name="by_config/nb.ipynb")
    lapd_notebook(["print(1)"], name="elsewhere/nb.ipynb")
    assert await route("plain.ipynb") is None
    assert await route("elsewhere/nb.ipynb") is None
    assert isinstance(await route("by_config/nb.ipynb"), ContentsDestination)
    assert isinstance(await route("some/text.py"), ContentsDestination)  # never the file writer

    run = await lapd_wait((await lapd_start("plain.ipynb"))["id"])
    assert run["status"] == "completed"
    assert text_of(read_nb(jp_root_dir / "plain.ipynb").cells[0].outputs) == "plain\n"
    assert not (jp_root_dir / "plain.py").exists()
    assert await destinations(lapd_app, run["id"]) == {None}  # the file writer's


async def test_what_jupytext_cannot_run_is_refused_and_nothing_changes(
    server, jp_fetch, jp_root_dir, lapd_start
):
    (jp_root_dir / "script.py").write_text("# %%\nprint(1)\n")  # a text notebook, unpaired
    (jp_root_dir / "data.txt").write_text("not a notebook\n")
    paired = make_notebook(["print(1)"])
    paired.metadata["jupytext"] = {"formats": PAIRED}
    jupytext.write(paired, jp_root_dir / "new.py", fmt="py:percent")  # no .ipynb yet
    files = [jp_root_dir / n for n in ("script.py", "data.txt", "new.py", "new.ipynb")]
    files.append(jp_root_dir / "script.ipynb")
    before = unchanged(*files)

    async def refused(path: str, **body: Any) -> tuple[int, str]:
        with pytest.raises(HTTPClientError) as err:
            await lapd_start(path, **body)
        assert err.value.response is not None
        return err.value.code, json.loads(err.value.response.body)["message"]

    code, message = await refused("script.py")
    assert code == 400 and "not paired with an .ipynb" in message
    assert "jupytext --set-formats ipynb,py script.py" in message
    code, message = await refused("data.txt")
    assert code == 400 and "not a notebook" in message
    code, _ = await refused("missing.py")
    assert code == 404
    code, message = await refused("new.py", cells=["nope"])
    assert code == 400 and "Unknown cell id" in message
    assert unchanged(*files) == before


@pytest.fixture
def sync_jupytext_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(jp_server_config)
    config["ServerApp"]["jpserver_extensions"].pop("jupyterlab_jupytext")
    config["ServerApp"]["contents_manager_class"] = "jupytext.TextFileContentsManager"
    return config


@pytest.mark.filterwarnings(
    "ignore:The synchronous ContentsManager classes are deprecated:DeprecationWarning"
)
async def test_a_synchronous_jupytext_contents_manager(
    jp_configurable_serverapp, sync_jupytext_config, jp_root_dir
):
    app = jp_configurable_serverapp(config=sync_jupytext_config)
    await app.extension_manager.start_all_extensions()
    cm = app.contents_manager
    assert is_jupytext(cm) and not hasattr(cm.get, "__await__")
    manager = app.extension_manager.extension_points["jupyter_lapd"].app.manager
    nb = make_notebook(["print('sync')"])
    nb.metadata["jupytext"] = {"formats": PAIRED}
    cm.save({"type": "notebook", "content": nb}, "nb.ipynb")

    record = await manager.create_run("nb.py")
    await wait_until(lambda: manager.active_run(record.id) is None, timeout=120)
    assert (await manager.get_run(record.id)).status.value == "completed"
    assert text_of(read_nb(jp_root_dir / "nb.ipynb").cells[0].outputs) == "sync\n"
    opened = cm.get("nb.py")["content"]  # the pair opens: no "older than" refusal
    assert text_of(opened.cells[0].outputs) == "sync\n"
    events = await manager.db_call(manager.store.read_events, record.id, 0)
    assert {e.get("destination") for e in events if e["type"] == "flushed"} == {"contents"}
    assert os.path.exists(jp_root_dir / "nb.py")
    nbformat.validate(jupytext.read(jp_root_dir / "nb.py"))


def test_the_metadata_is_read_from_the_end_of_the_file(tmp_path):
    from jupyter_lapd.notebook.jupytextpairs import _read_metadata

    nb = make_notebook(["print('x' * 100_000)"] * 3)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="x" * 200_000)]
    nb.metadata["jupytext"] = {"formats": PAIRED}
    as_jupyter = tmp_path / "a.ipynb"
    nbformat.write(nb, as_jupyter)  # > 64 KiB, laid out as nbformat writes it
    assert as_jupyter.stat().st_size > 200_000
    assert _read_metadata(str(as_jupyter))["jupytext"] == {"formats": PAIRED}
    other = tmp_path / "b.ipynb"  # another layout: the whole file is read
    other.write_text(json.dumps({"metadata": nb.metadata, **nb}, indent=2))
    assert _read_metadata(str(other))["jupytext"] == {"formats": PAIRED}
    nb.metadata.pop("jupytext")
    nbformat.write(nb, as_jupyter)
    assert "jupytext" not in _read_metadata(str(as_jupyter))
