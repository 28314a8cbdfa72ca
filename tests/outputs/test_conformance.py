"""Conformance: the notebook lapd saves is the one plain nbclient (and JupyterLab) would save.

Each notebook in ``tests/conformance/notebooks`` is run three ways in the same environment:
plain nbclient (the reference, once per notebook), ``jupyter lapd run --headless``, and a
background run through a real Jupyter Server. The saved files are compared whole, notebook
metadata included, after normalising only the differences lapd documents (docs/file.md, "What
lands in the file") and the nondeterminism both tools share. Anything else that differs is
a finding: the assertion shows it as a unified diff of the two normalised notebooks.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jupyterlab_streams import jupyterlab_stream_text

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = Path(__file__).resolve().parents[1] / "conformance" / "notebooks"
NAMES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
MODES = ("headless", "server")

# The cases known to differ from the reference, each with its reason: the one place to say
# so (xfail is strict: a case that starts passing fails until its line is removed). Keys
# are (mode, notebook name). None today.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}

Notebook = dict[str, Any]

# -- the reference: plain nbclient -------------------------------------------------------

# Runs in a subprocess, so that the kernel and nbclient's own event loop stay out of the
# test's. Its kernel talks over IPC: the reference runs while lapd runs another notebook,
# and TCP ports picked by one kernel manager can be taken by the other's kernel before the
# first binds them ("Address already in use"); the transport changes nothing in the file.
# JupyterLab, when it picks a kernel for a notebook that names none, writes that kernel's
# spec into `metadata.kernelspec` on save; nbclient leaves it out. The reference is what
# JupyterLab would have saved, so it gets the spec too.
REFERENCE_SCRIPT = """
import sys
from pathlib import Path

import nbclient
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

source, target, sockets = sys.argv[1], sys.argv[2], sys.argv[3]
nb = nbformat.read(source, as_version=4)
km = KernelManager(kernel_name="python3", transport="ipc", ip=sockets)
client = nbclient.NotebookClient(
    nb, km=km, kernel_name="python3", resources={"metadata": {"path": str(Path(source).parent)}}
)
try:
    client.execute()
    outcome = "completed"
except nbclient.exceptions.CellExecutionError:
    outcome = "failed"
if "kernelspec" not in nb.metadata:
    spec = KernelSpecManager().get_kernel_spec("python3")
    nb.metadata["kernelspec"] = {
        "display_name": spec.display_name, "language": spec.language, "name": "python3"
    }
nbformat.write(nb, target)
print(outcome)
"""


@dataclass
class Saved:
    """A notebook as a tool saved it, and whether the tool said the run completed."""

    outcome: str  # "completed" or "failed"
    notebook: Notebook


def subprocess_env(tmp: Path, mplconfig: Path) -> dict[str, str]:
    """The environment of the reference and headless runs: the user's, without their Jupyter
    config (runtime files in ``tmp``), matplotlib's cache in a folder all three ways share
    (a fresh one would print "building the font cache" into the first plotting cell)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "JPY_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    for name in ("config", "runtime"):
        (tmp / name).mkdir(parents=True, exist_ok=True)
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        MPLCONFIGDIR=str(mplconfig),
    )
    return env


def copy_notebook(name: str, folder: Path) -> Path:
    """The notebook, byte for byte, alone in ``folder`` (runs write files beside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.ipynb"
    shutil.copyfile(NOTEBOOKS / f"{name}.ipynb", target)
    return target


def read_json(path: Path) -> Notebook:
    """The file as JSON: not through nbformat, which would add ids and so hide a difference."""
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def mplconfig(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A matplotlib config folder with its font cache already built."""
    folder = tmp_path_factory.mktemp("mplconfig")
    env = {**os.environ, "MPLCONFIGDIR": str(folder)}
    subprocess.run(
        [sys.executable, "-c", "import matplotlib.font_manager"], env=env, check=True, timeout=120
    )
    return folder


def run_nbclient(name: str, tmp: Path, mplconfig: Path) -> Saved:
    """Plain nbclient on a copy of the notebook, in a process of its own."""
    source = copy_notebook(name, tmp / "work")
    target = tmp / "saved.ipynb"
    result = subprocess.run(
        [sys.executable, "-c", REFERENCE_SCRIPT, str(source), str(target), str(tmp / "kernel")],
        cwd=source.parent,
        env=subprocess_env(tmp, mplconfig),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, f"nbclient could not run {name}:\n{result.stderr}"
    return Saved(result.stdout.strip(), read_json(target))


@pytest.fixture(scope="module")
def references(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mplconfig: Path
) -> Iterator[Callable[[str], Saved]]:
    """nbclient's saved notebook for a name, computed once per notebook for both modes.

    The references of the selected cases are computed one after the other in a thread, ahead
    of the cases that need them, so that nbclient runs while lapd runs the notebook before:
    each waits on its kernel much of the time, and two cores take both.
    """
    selected: set[str] = set()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if item.module is request.module and callspec is not None:
            selected.add(callspec.params["name"])
    with ThreadPoolExecutor(max_workers=1) as pool:
        futures = {
            name: pool.submit(
                run_nbclient, name, tmp_path_factory.mktemp(f"nbclient-{name}"), mplconfig
            )
            for name in sorted(selected)
        }

        def reference(name: str) -> Saved:
            return futures[name].result()

        try:
            yield reference
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


# -- the two ways lapd runs --------------------------------------------------------------


def run_headless(name: str, tmp: Path, mplconfig: Path) -> Saved:
    """`jupyter lapd run <name>.ipynb --headless` on a copy, as a user would type it."""
    path = copy_notebook(name, tmp / "work")
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_lapd.cli", "run", path.name, "--headless"],
        cwd=path.parent,
        env=subprocess_env(tmp, mplconfig),
        capture_output=True,
        text=True,
        timeout=240,
    )
    outcomes = {0: "completed", 1: "failed"}
    assert result.returncode in outcomes, f"exit {result.returncode}:\n{result.stderr}"
    return Saved(outcomes[result.returncode], read_json(path))


@dataclass
class Server:
    """The real Jupyter Server's fixtures a server-mode case uses."""

    root: Path
    fetch: Callable[..., Any]
    wait: Callable[..., Any]

    async def run(self, name: str) -> Saved:
        """A background run through the REST API, read once the run has ended."""
        path = copy_notebook(name, self.root)
        body = json.dumps({"path": path.name})
        response = await self.fetch(
            "lapd", "api", "runs", method="POST", body=body, raise_error=False
        )
        assert response.code == 201, f"POST /lapd/api/runs: {response.code} {response.body!r}"
        ended = await self.wait(json.loads(response.body)["id"], timeout=240)
        outcome = {"completed": "completed", "failed": "failed"}.get(ended["status"])
        assert outcome is not None, f"the run ended {ended['status']}: {ended.get('error')}"
        return Saved(outcome, read_json(path))


# -- normalisation: the documented differences, and the nondeterminism of both tools -------


def rejoined(nb: Notebook) -> Notebook:
    """Multiline strings as one string: nbformat stores them as lists of lines or as one
    string alike and reads both the same, so that is storage, not content."""

    def join(value: Any) -> Any:
        is_lines = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return "".join(value) if is_lines else value

    def join_bundle(bundle: dict[str, Any]) -> None:
        for mime, value in bundle.items():
            if not mime.endswith("json"):  # JSON data is a value, not text split in lines
                bundle[mime] = join(value)

    nb = copy.deepcopy(nb)
    for cell in nb.get("cells", []):
        cell["source"] = join(cell.get("source", ""))
        for bundle in cell.get("attachments", {}).values():
            join_bundle(bundle)
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = join(output["text"])
            if isinstance(output.get("data"), dict):
                join_bundle(output["data"])
    return nb


def output_lists(nb: Notebook) -> Iterator[list[dict[str, Any]]]:
    """Every list of outputs in the notebook: the code cells' and the Output widgets'."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            yield cell.setdefault("outputs", [])
    for model in widget_state(nb).values():
        outputs = model.get("state", {}).get("outputs")
        if model.get("model_name") == "OutputModel" and isinstance(outputs, list):
            yield outputs


def widget_state(nb: Notebook) -> dict[str, Any]:
    """The saved widget models by model id ({} when the notebook has none)."""
    widgets = nb.get("metadata", {}).get("widgets", {})
    state = widgets.get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return state if isinstance(state, dict) else {}


def drop_timing(nb: Notebook) -> None:
    """`metadata.execution` holds each cell's timestamps: they differ from run to run."""
    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("execution", None)


def drop_added_ids(nb: Notebook, source: Notebook) -> None:
    """lapd gives a cell without an id one (as JupyterLab's first save does); nbclient's
    nbformat adds random ones. A cell that had an id must keep exactly that one."""
    for cell, original in zip(nb.get("cells", []), source.get("cells", []), strict=False):
        if "id" not in original:
            cell.pop("id", None)


def raise_minor(nb: Notebook) -> None:
    """lapd writes cell ids, so it saves at nbformat 4.5 at least (JupyterLab does too)."""
    nb["nbformat_minor"] = max(nb.get("nbformat_minor", 0), 5)


def clear_empty_code_cells(nb: Notebook) -> None:
    """JupyterLab clears an empty code cell it runs (no outputs, no count); nbclient skips
    it and keeps what it held."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and not cell.get("source", "").strip():
            cell["outputs"] = []
            cell["execution_count"] = None


def merge_streams(nb: Notebook) -> None:
    """Consecutive outputs of the same stream as one, as JupyterLab saves them."""
    for outputs in output_lists(nb):
        merged: list[dict[str, Any]] = []
        for output in outputs:
            last = merged[-1] if merged else None
            if (
                last is not None
                and output.get("output_type") == last.get("output_type") == "stream"
                and output.get("name") == last.get("name")
            ):
                last["text"] = last["text"] + output["text"]
            else:
                merged.append(output)
        outputs[:] = merged


def compact_streams(nb: Notebook) -> None:
    """Stream text with ``\\r`` and ``\\b`` applied, as JupyterLab shows and saves it."""
    for outputs in output_lists(nb):
        for output in outputs:
            if output.get("output_type") == "stream" and isinstance(output.get("text"), str):
                output["text"] = jupyterlab_stream_text(output["text"])


_MODEL_REF = re.compile(r"IPY_MODEL_([0-9a-f]{32})")


def widget_ids_in_order(nb: Notebook) -> list[str]:
    """Widget model ids (uuid4, new on every run) in a deterministic order: as the outputs
    show them, each followed depth-first by the models its state refers to; then the models
    no output reaches, each from a model nothing else refers to, by its state with the ids
    masked."""
    state = widget_state(nb)
    order: list[str] = []

    def visit_model(model_id: str) -> None:
        if model_id in order:
            return
        order.append(model_id)
        visit(state.get(model_id, {}).get("state", {}))

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            for key in sorted(value):
                item = value[key]
                if key == "model_id" and isinstance(item, str):
                    visit_model(item)
                else:
                    visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)
        elif isinstance(value, str):
            for found in _MODEL_REF.findall(value):
                visit_model(found)

    visit(nb.get("cells", []))
    pattern = re.compile("|".join(map(re.escape, state)) or "(?!)")

    def masked(model_id: str) -> str:
        return pattern.sub("<model>", json.dumps(state[model_id], sort_keys=True))

    def refers_to(model_id: str) -> set[str]:
        text = json.dumps(state[model_id].get("state", {}))
        return {other for other in state if other != model_id and other in text}

    # the models no output reaches: from those no other such model refers to (a model's
    # layout and style come after it, whatever their own content), by their masked state
    while left := [m for m in state if m not in order]:
        referred = set().union(*(refers_to(m) for m in left))
        visit_model(min([m for m in left if m not in referred] or left, key=masked))
    return order


def masked_ipykernel_files(text: str) -> str:
    """ipykernel names the file of a cell's code ``/tmp/ipykernel_<pid>/<hash>.py``; the
    pid is the kernel's own."""
    return re.sub(r"ipykernel_\d+([\\/])", r"ipykernel_<pid>\1", text)


def masked_addresses(text: str) -> str:
    """Object addresses in default reprs (``<Line2D at 0x7f...>``) differ from run to run."""
    return re.sub(r"\b0x[0-9a-f]{8,16}\b", "0x<address>", text)


def normalised(nb: Notebook, source: Notebook) -> str:
    """``nb`` as JSON text with the documented differences and the shared nondeterminism
    taken out; what is left must be equal between lapd and nbclient."""
    nb = rejoined(nb)
    source = rejoined(source)
    drop_timing(nb)
    drop_added_ids(nb, source)
    raise_minor(nb)
    clear_empty_code_cells(nb)
    merge_streams(nb)
    compact_streams(nb)
    text = json.dumps(nb, ensure_ascii=False)
    for number, model_id in enumerate(widget_ids_in_order(nb)):
        text = text.replace(model_id, f"<widget-{number}>")
    # dumped again in key order once renamed: the state's keys are the models' ids
    text = json.dumps(json.loads(text), indent=1, sort_keys=True, ensure_ascii=False)
    return masked_addresses(masked_ipykernel_files(text))


def difference(reference: Saved, saved: Saved, source: Notebook, mode: str) -> str:
    """A unified diff of the two normalised notebooks, outcome first ('' when equal)."""
    expected = f"run outcome: {reference.outcome}\n{normalised(reference.notebook, source)}\n"
    actual = f"run outcome: {saved.outcome}\n{normalised(saved.notebook, source)}\n"
    diff = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        fromfile="nbclient (normalised)",
        tofile=f"lapd {mode} (normalised)",
    )
    return "".join(diff)


# -- the suite -----------------------------------------------------------------------------


def cases() -> Iterator[Any]:
    for mode in MODES:
        for name in NAMES:
            reason = KNOWN_FAILURES.get((mode, name))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(mode, name, id=f"{mode}-{name}", marks=marks)


@pytest.fixture
def reference(references: Callable[[str], Saved], name: str) -> Saved:
    return references(name)


@pytest.fixture
def server(
    request: pytest.FixtureRequest,
    mode: str,
    reference: Saved,
    mplconfig: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Server | None:
    """The server and its fixtures, started only for server-mode cases (after the reference,
    which runs with no server up)."""
    if mode != "server":
        return None
    monkeypatch.setenv("MPLCONFIGDIR", str(mplconfig))
    return Server(
        request.getfixturevalue("jp_root_dir"),
        request.getfixturevalue("jp_fetch"),
        request.getfixturevalue("lapd_wait"),
    )


# The server runs inside this process, where pytest turns warnings into errors; a real
# server only logs nbformat's warning about a notebook whose cells lack ids.
@pytest.mark.filterwarnings("ignore::nbformat.warnings.MissingIDFieldWarning")
@pytest.mark.parametrize(("mode", "name"), list(cases()))
async def test_conformance(
    mode: str,
    name: str,
    reference: Saved,
    server: Server | None,
    mplconfig: Path,
    tmp_path: Path,
) -> None:
    """lapd's saved notebook is nbclient's, but for the documented differences."""
    if server is not None:
        saved = await server.run(name)
    else:
        saved = run_headless(name, tmp_path, mplconfig)
    source = read_json(NOTEBOOKS / f"{name}.ipynb")
    diff = difference(reference, saved, source, mode)
    assert not diff, f"lapd's saved {name}.ipynb differs from nbclient's:\n{diff}"


def test_the_notebooks_are_enough_and_valid_json() -> None:
    assert len(NAMES) >= 30
    for name in NAMES:
        assert read_json(NOTEBOOKS / f"{name}.ipynb")["nbformat"] == 4


# -- the normaliser itself -----------------------------------------------------------------


def _saved_pair() -> tuple[Notebook, Notebook]:
    """A source notebook without ids and what a run of it saved."""
    source: Notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": ["print('x')\n", "1"],
            }
        ],
        "metadata": {"kernelspec": {"name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    saved = copy.deepcopy(source)
    saved["cells"][0]["execution_count"] = 1
    saved["cells"][0]["outputs"] = [
        {"name": "stdout", "output_type": "stream", "text": ["10%\r50%", "\r100%\n"]},
        {"data": {"text/plain": ["1"]}, "execution_count": 1, "metadata": {}, "output_type": "execute_result"},
    ]  # fmt: skip
    return source, saved


def test_the_normaliser_takes_out_only_documented_differences() -> None:
    source, saved = _saved_pair()
    lapd = copy.deepcopy(saved)
    lapd["nbformat_minor"] = 5
    lapd["cells"][0]["id"] = "added-by-lapd"
    lapd["cells"][0]["metadata"]["execution"] = {"iopub.status.idle": "2024-01-01T00:00:00Z"}
    lapd["cells"][0]["outputs"][0]["text"] = "100%\n"
    assert normalised(lapd, source) == normalised(saved, source)
    for change in (
        lambda nb: nb["metadata"].update(title="x"),
        lambda nb: nb["cells"][0]["metadata"].update(tags=["x"]),
        lambda nb: nb["cells"][0].update(execution_count=2),
        lambda nb: nb["cells"][0]["outputs"][1]["data"].update({"text/plain": "2"}),
        lambda nb: nb["cells"][0]["outputs"][0].update(name="stderr"),
    ):
        changed = copy.deepcopy(lapd)
        change(changed)
        assert normalised(changed, source) != normalised(saved, source)
    # an id the source had is the file's: changing it is a difference
    with_id = copy.deepcopy(source)
    with_id["cells"][0]["id"] = "kept"
    renamed = copy.deepcopy(saved)
    renamed["cells"][0]["id"] = "other"
    kept = copy.deepcopy(saved)
    kept["cells"][0]["id"] = "kept"
    assert normalised(renamed, with_id) != normalised(kept, with_id)


def _widget_notebook(slider: str, layout: str, unshown: str) -> Notebook:
    """A slider shown in a cell, its layout model, and a model no output reaches."""
    view = {"model_id": slider, "version_major": 2, "version_minor": 0}
    output = {
        "data": {"application/vnd.jupyter.widget-view+json": view},
        "metadata": {},
        "output_type": "display_data",
    }
    state = {
        unshown: {"model_name": "LayoutModel", "state": {"width": "1px"}},
        layout: {"model_name": "LayoutModel", "state": {"width": None}},
        slider: {"model_name": "IntSliderModel", "state": {"layout": f"IPY_MODEL_{layout}"}},
    }
    cell = {
        "cell_type": "code",
        "execution_count": 1,
        "metadata": {},
        "outputs": [output],
        "source": "slider",
    }
    return {
        "cells": [cell],
        "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": state}}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_widget_ids_are_renamed_by_their_place_not_their_value() -> None:
    ids = [f"{i:032x}" for i in range(1, 7)]
    one = _widget_notebook(ids[0], ids[1], ids[2])
    other = _widget_notebook(ids[5], ids[4], ids[3])
    assert normalised(one, one) == normalised(other, other)
    # the slider pointing at the other layout model is a difference
    swapped = copy.deepcopy(one)
    swapped["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"][ids[0]][
        "state"
    ]["layout"] = f"IPY_MODEL_{ids[2]}"
    assert normalised(swapped, swapped) != normalised(one, one)


def test_stream_text_is_compacted_as_jupyterlab_does() -> None:
    assert jupyterlab_stream_text("10%\r50%\r100%\n") == "100%\n"
    assert jupyterlab_stream_text("Downloading...\rDone\n") == "Doneloading...\n"
    assert jupyterlab_stream_text("typo\b\b\bext\n") == "text\n"
    assert jupyterlab_stream_text("a\r\nb") == "a\nb"
