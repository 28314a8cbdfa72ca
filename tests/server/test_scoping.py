"""Several servers sharing one runs database (JupyterHub servers over one home directory, each
with its own root): each sees, answers for, recovers and prunes only its own runs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import nbformat
import pytest
from conftest import make_notebook
from server_process import TOKEN, ServerProcess
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from jupyter_lapd.journal import runowners as owners
from jupyter_lapd.journal.store import Store
from jupyter_lapd.models import CellRecord, CellStatus, RunRecord, RunStatus, utcnow

REPO = Path(__file__).resolve().parents[2]
UNKNOWN = "0123456789abcdef0123456789abcdef"
# a cell that runs until a file named `release` appears in the notebook's folder
UNTIL_RELEASED = (
    "import os, time\n"
    "print('waiting', flush=True)\n"
    "while not os.path.exists('release'):\n"
    "    time.sleep(0.1)\n"
    "print('released')"
)


def record_of(name: str, status: RunStatus, days_old: float = 0) -> RunRecord:
    record = RunRecord(path=f"{name}.ipynb", cells=[CellRecord(id="c0")])
    record.status = status
    record.created = utcnow() - timedelta(days=days_old)
    if status == RunStatus.RUNNING:
        record.cells[0].status = CellStatus.RUNNING
    return record


# -- one server: what another server's records in the same database look like to it -------


async def ws_answer(url: str, headers: dict[str, str]) -> tuple[int, str]:
    """The HTTP status and body a WebSocket upgrade is refused with."""
    with pytest.raises(HTTPClientError) as e:
        ws = await websocket_connect(HTTPRequest(url, headers=headers))
        ws.close()
    body = e.value.response.body.decode() if e.value.response is not None else ""
    return e.value.code, body


async def test_another_roots_run_answers_as_an_unknown_id(
    jp_fetch, jp_ws_fetch, lapd_app, lapd_notebook, lapd_start, lapd_wait
):
    """A run recorded under another root (another server sharing the database) is not
    listed, and GET, cancel and the events socket answer exactly as for a made-up id."""
    elsewhere = record_of("theirs", RunStatus.RUNNING)
    lapd_app.store.save_run(elsewhere, "/srv/other-root")
    before = lapd_app.store.get_run(elsewhere.id).to_dict()
    lapd_notebook(["print('mine')"])
    mine = (await lapd_wait((await lapd_start("nb.ipynb"))["id"]))["id"]

    listed = json.loads((await jp_fetch("lapd", "api", "runs")).body)["runs"]
    assert [r["id"] for r in listed] == [mine]
    for params in ({"status": "running"}, {"path": "theirs.ipynb"}):
        answer = await jp_fetch("lapd", "api", "runs", params=params)
        assert json.loads(answer.body)["runs"] == []

    async def refused(run_id: str, *parts: str, method: str = "GET") -> tuple[int, Any]:
        """Status and body of the refusal, with the id in the body replaced by "ID"."""
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch(
                "lapd", "api", "runs", run_id, *parts, method=method,
                body=None if method == "GET" else "",
            )  # fmt: skip
        return e.value.code, json.loads(e.value.response.body.replace(run_id.encode(), b"ID"))

    for parts, method in (((), "GET"), (("cancel",), "POST")):
        answer = await refused(elsewhere.id, *parts, method=method)
        assert answer == await refused(UNKNOWN, *parts, method=method)
        assert answer[0] == 404 and answer[1]["message"] == "No such run: ID"
    for since in (None, 0):
        params = {"since": str(since)} if since is not None else None
        answers = []
        for run_id in (elsewhere.id, UNKNOWN):
            with pytest.raises(HTTPClientError) as e:
                await jp_ws_fetch("lapd", "api", "runs", run_id, "events", params=params)
            answers.append((e.value.code, e.value.response.body.replace(run_id.encode(), b"ID")))
        assert answers[0] == answers[1] and answers[0][0] == 404, answers
        assert json.loads(answers[0][1]) == {"message": "No such run: ID"}
    assert lapd_app.store.get_run(elsewhere.id).to_dict() == before


async def test_startup_recovers_and_prunes_only_its_own_runs(lapd_app):
    """At startup a server marks interrupted only the active runs recorded under its own
    root, and forgets only its own finished runs older than history_days; a run under its
    root that a live headless process drives (`jupyter lapd run --headless --db-path`) is
    left alone too."""
    manager, store = lapd_app.manager, lapd_app.store
    root, other = manager.root_dir, "/srv/other-root"
    assert manager.history_days == 30
    own_stale = record_of("own-stale", RunStatus.RUNNING)
    own_old = record_of("own-old", RunStatus.COMPLETED, days_old=40)
    headless = record_of("headless", RunStatus.RUNNING)
    theirs_running = record_of("theirs-running", RunStatus.RUNNING)
    theirs_queued = record_of("theirs-queued", RunStatus.QUEUED)
    theirs_old = record_of("theirs-old", RunStatus.FAILED, days_old=40)
    for record in (own_stale, own_old, headless):
        store.save_run(record, root)
    store.set_owner(headless.id, owners.this_process())
    for record in (theirs_running, theirs_queued, theirs_old):
        store.save_run(record, other)
    untouched = [theirs_running, theirs_queued, theirs_old, headless]
    before = {r.id: (store.get_run(r.id).to_dict(), store.read_events(r.id)) for r in untouched}

    await manager.start()  # what a restarted server over `root` does first

    assert store.get_run(own_stale.id).status == RunStatus.INTERRUPTED
    assert store.get_run(own_old.id) is None
    after = {r.id: (store.get_run(r.id).to_dict(), store.read_events(r.id)) for r in untouched}
    assert after == before


# -- two real servers over different roots, one database -----------------------------------


def wait_for(predicate: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def refusal(server: ServerProcess, method: str, run_id: str, tail: str) -> tuple[int, Any]:
    """Status and body of a refused request, with the id in the body replaced by "ID"."""
    with pytest.raises(HTTPError) as e:
        server.request(method, f"lapd/api/runs/{run_id}{tail}", {} if method == "POST" else None)
    return e.value.code, json.loads(e.value.read().replace(run_id.encode(), b"ID"))


def events_refusal(server: ServerProcess, run_id: str) -> tuple[int, str]:
    url = "ws" + server.url[len("http") :] + f"lapd/api/runs/{run_id}/events"
    headers = {"Authorization": f"token {TOKEN}"}
    code, body = asyncio.run(ws_answer(url, headers))
    return code, body.replace(run_id, "ID")


def run_of(server: ServerProcess, run_id: str) -> dict[str, Any]:
    return server.request("GET", f"lapd/api/runs/{run_id}")  # type: ignore[no-any-return]


def ids(server: ServerProcess, query: str = "") -> set[str]:
    return {r["id"] for r in server.request("GET", f"lapd/api/runs{query}")["runs"]}


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_lapd.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def two_servers(tmp_path: Path) -> Any:
    """Servers A and B over different roots, with one runs database and one runtime folder
    (as in one home directory); B reruns its interrupted runs at startup."""
    db = tmp_path / "home" / ".local" / "share" / "jupyter" / "lapd" / "runs.db"
    a = ServerProcess(tmp_path / "a", tmp_path / "root-a", db_path=str(db))
    b = ServerProcess(
        tmp_path / "b", tmp_path / "root-b", db_path=str(db), on_server_restart="rerun"
    )
    b.runtime = a.runtime
    b.env["JUPYTER_RUNTIME_DIR"] = str(a.runtime)
    for server in (a, b):
        nbformat.write(make_notebook(["print('quick')"]), server.root / "quick.ipynb")
        nbformat.write(make_notebook(["x = 1", UNTIL_RELEASED]), server.root / "nb.ipynb")
    started: list[ServerProcess] = []
    try:
        for server in (a, b):
            server.start()
            started.append(server)
        yield a, b
    finally:
        for server in started:
            (server.root / "release").touch()
            server.stop()


def test_two_servers_sharing_a_database_keep_their_runs_apart(two_servers):
    a, b = two_servers
    quick = {}
    for server in (a, b):
        quick[server] = server.request("POST", "lapd/api/runs", {"path": "quick.ipynb"})["id"]
        wait_for(lambda s=server: run_of(s, quick[s])["status"] == "completed")
    # the same notebook path in both roots: no 409, each server has its own run on it
    long_a = a.request("POST", "lapd/api/runs", {"path": "nb.ipynb"})["id"]
    long_b = b.request("POST", "lapd/api/runs", {"path": "nb.ipynb"})["id"]
    for server, run_id in ((a, long_a), (b, long_b)):
        wait_for(lambda s=server, r=run_id: run_of(s, r)["current_cell_id"] == "c1")

    # each lists only its own
    assert ids(a) == {quick[a], long_a} and ids(b) == {quick[b], long_b}
    assert ids(b, "?path=nb.ipynb") == {long_b}
    assert ids(b, "?status=running,queued") == {long_b}

    # B answers for A's runs (active or finished) exactly as for a made-up id
    before = run_of(a, long_a)
    for run_id in (long_a, quick[a]):
        for method, tail in (("GET", ""), ("POST", "/cancel")):
            answer = refusal(b, method, run_id, tail)
            assert answer == refusal(b, method, UNKNOWN, tail)
            assert answer[0] == 404 and answer[1]["message"] == "No such run: ID"
        answer = events_refusal(b, run_id)
        assert answer == events_refusal(b, UNKNOWN)
        assert answer[0] == 404 and json.loads(answer[1]) == {"message": "No such run: ID"}
    assert run_of(a, long_a) == before  # B's cancel changed nothing

    # B crashes and restarts while A's run is active: B recovers (and reruns) its own run
    # only; A's run goes on, neither interrupted nor rerun
    b.kill9()
    b.start()
    interrupted = run_of(b, long_b)
    assert interrupted["status"] == "interrupted", interrupted
    rerun = [r for r in b.request("GET", "lapd/api/runs")["runs"] if r["resumed_from"]]
    assert [r["resumed_from"] for r in rerun] == [long_b]
    assert run_of(a, long_a)["status"] == "running"
    assert ids(a) == {quick[a], long_a}
    assert not any(r["resumed_from"] for r in a.request("GET", "lapd/api/runs")["runs"])

    # the CLI: in B's root, B's runs; --all-servers, every server's, with their roots
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_LAPD_")},
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "JUPYTER_RUNTIME_DIR": str(a.runtime),
        "JUPYTER_CONFIG_DIR": str(b.config),
        "JUPYTER_DATA_DIR": str(b.home / "data"),
    }
    own = cli("list", "--all", "--json", cwd=b.root, env=env)
    assert (own.returncode, own.stderr) == (0, "")
    listed_b = json.loads(own.stdout)["runs"]
    assert {r["id"] for r in listed_b} == {quick[b], long_b, rerun[0]["id"]}
    assert all("root" not in r for r in listed_b)
    text = cli("list", "--all", cwd=b.root, env=env).stdout
    assert long_a[:8] not in text and long_b[:8] in text and "ROOT" not in text
    from_a = json.loads(cli("list", "--all", "--json", cwd=a.root, env=env).stdout)["runs"]
    assert {r["id"] for r in from_a} == {quick[a], long_a}

    every = cli("list", "--all", "--all-servers", "--json", cwd=b.root, env=env)
    assert every.returncode == 0, every.stderr
    roots = {r["id"]: r["root"] for r in json.loads(every.stdout)["runs"]}
    assert roots == {
        quick[a]: str(a.root), long_a: str(a.root),
        quick[b]: str(b.root), long_b: str(b.root), rerun[0]["id"]: str(b.root),
    }  # fmt: skip
    table = cli("list", "--all-servers", cwd=b.root, env=env)  # active ones only
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[-1] == "ROOT"
    assert {(row.split()[0], row.split()[-1]) for row in rows} == {
        (long_a[:8], str(a.root)), (rerun[0]["id"][:8], str(b.root)),
    }  # fmt: skip

    # B's CLI cannot touch A's run, and says whose it is
    for command in ("cancel", "show"):
        refused = cli(command, long_a[:8], cwd=b.root, env=env)
        assert refused.returncode == 2, refused
        assert f"No such run: {long_a[:8]} on this server" in refused.stderr
        assert f"server over {a.root}" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1

    # A's run was never interrupted or cancelled: released, it completes with every output
    (a.root / "release").touch()
    wait_for(lambda: run_of(a, long_a)["status"] not in ("queued", "running"))
    done = run_of(a, long_a)
    assert (done["status"], done["error"]) == ("completed", None)
    outputs = nbformat.read(a.root / "nb.ipynb", as_version=4).cells[1].outputs
    assert "".join(o.get("text", "") for o in outputs) == "waiting\nreleased\n"


def test_without_a_server_list_reads_the_runs_of_the_root_holding_the_directory(tmp_path):
    """No server answers: `list` reads the database, scoped to the server whose root holds
    the current directory; from elsewhere, every server's runs, each with its root."""
    roots = {name: tmp_path / name for name in ("root-a", "root-b", "elsewhere")}
    for folder in (*roots.values(), tmp_path / "config", tmp_path / "runtime"):
        folder.mkdir()
    db = tmp_path / "runs.db"
    store = Store(str(db))
    runs = {}
    for name in ("root-a", "root-b"):
        runs[name] = record_of(name, RunStatus.COMPLETED)
        store.save_run(runs[name], str(roots[name]))
    store.close()
    config = {"Lapd": {"db_path": str(db)}}
    (tmp_path / "config" / "jupyter_server_config.json").write_text(json.dumps(config))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_LAPD_")},
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),  # no server runs
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
    }
    for name in ("root-a", "root-b"):
        within = cli("list", "--all", "--json", cwd=roots[name], env=env)
        assert within.returncode == 0, within.stderr
        assert json.loads(within.stdout)["runs"] == [runs[name].to_dict(with_cells=False)]
        assert f"runs of the server over {roots[name]}" in within.stderr
    shown = cli("show", runs["root-a"].id[:8], cwd=roots["root-a"], env=env)
    assert shown.returncode == 0 and runs["root-a"].id in shown.stdout, shown.stderr
    hidden = cli("show", runs["root-b"].id[:8], cwd=roots["root-a"], env=env)
    assert hidden.returncode == 2 and "No such run" in hidden.stderr, hidden
    outside = cli("list", "--all", "--json", cwd=roots["elsewhere"], env=env)
    assert outside.returncode == 0, outside.stderr
    assert "runs of every server" in outside.stderr
    assert {r["id"]: r["root"] for r in json.loads(outside.stdout)["runs"]} == {
        runs[name].id: str(roots[name]) for name in ("root-a", "root-b")
    }
    table = cli("list", "--all", cwd=roots["elsewhere"], env=env).stdout.splitlines()
    assert table[0].split()[-1] == "ROOT" and len(table) == 3
