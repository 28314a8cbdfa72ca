"""`jupyter lapd` as users run it: a subprocess talking to a real server, real kernels."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest
from conftest import make_notebook

from jupyter_lapd.journal.streamfiles import folder_for

if TYPE_CHECKING:
    from typing_extensions import Self

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "jupyter_lapd.cli"]
RUN_ID = re.compile(r"^[0-9a-f]{32}$", re.MULTILINE)


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_LAPD_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return {**env, **extra}


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


async def run_cli(*args: str, cwd: Path, timeout: float = 120) -> Result:
    """The CLI as a subprocess, so this event loop keeps serving the in-process server."""
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        cwd=cwd,
        env=cli_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.communicate()
        raise
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


Cli = Callable[..., Awaitable[Result]]


@pytest.fixture
def lapd_cli(
    jp_serverapp: Any,
    jp_http_port: int,
    jp_base_url: str,
    jp_root_dir: Path,
    http_server_client: Any,
) -> Cli:
    """`jupyter lapd <command> <args> --url <test server> --token <its token>`.

    ``http_server_client`` makes the test server accept connections on ``jp_http_port``.
    """
    url = f"http://localhost:{jp_http_port}{jp_base_url}"
    token = jp_serverapp.identity_provider.token

    async def call(
        command: str, *args: str, cwd: Path = jp_root_dir, server: bool = True
    ) -> Result:
        options = ["--url", url, "--token", token] if server else []
        return await run_cli(command, *args, *options, cwd=cwd)

    return call


def one_line(text: str) -> bool:
    return len(text.strip().splitlines()) == 1


TICKS = "import time\nfor i in range(3):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.5)"
RICH = (
    "from IPython.display import display\n"
    "display({'image/png': 'iVBORw0KGgo=', 'text/plain': '<a picture>'}, raw=True)\n"
    "6 * 7"
)


async def test_run_follow_wait_and_read_back(lapd_cli, lapd_notebook, jp_root_dir):
    lapd_notebook(["print('hello')", ("markdown", "# notes"), TICKS, RICH], name="work/nb.ipynb")
    work = jp_root_dir / "work"
    # no --url: the server is found through its runtime file, its root holding the cwd
    started = await lapd_cli("run", "nb.ipynb", cwd=work, server=False)
    assert started.code == 0, started.err
    run_id = started.out.strip()
    assert RUN_ID.match(run_id), started.out

    follow = await lapd_cli("logs", "-f", run_id[:8])
    assert follow.code == 0, follow.err
    for text in ("hello", "tick 0", "tick 1", "tick 2", "[image/png]", "<a picture>", "42"):
        assert text in follow.out, follow.out
    assert "completed" in follow.out.splitlines()[-1]

    waited = await lapd_cli("wait", run_id[:6])
    assert (waited.code, waited.out.split()[:2]) == (0, [run_id[:8], "completed:"]), waited

    listed = await lapd_cli("list", "--all", "--json")
    assert listed.code == 0, listed.err
    (run,) = [r for r in json.loads(listed.out)["runs"] if r["id"] == run_id]
    assert (run["path"], run["status"], run["cells_done"], run["cells_total"]) == (
        "work/nb.ipynb",
        "completed",
        3,
        3,
    )
    table = await lapd_cli("list", "--all")
    header, row = table.out.splitlines()[:2]
    assert header.split() == ["ID", "NOTEBOOK", "STATUS", "PROGRESS", "ELAPSED", "STARTED"]
    assert row.split()[:4] == [run_id[:8], "work/nb.ipynb", "completed", "3/3"]
    active = await lapd_cli("list")
    assert (active.code, active.out.strip()) == (0, "no active runs (--all shows finished ones)")

    shown = await lapd_cli("show", run_id[:8])
    assert shown.code == 0, shown.err
    assert run_id in shown.out and "work/nb.ipynb" in shown.out
    cell_rows = [line.split() for line in shown.out.splitlines() if line[:1].isdigit()]
    assert [(r[1], r[2]) for r in cell_rows] == [("c0", "done"), ("c2", "done"), ("c3", "done")]
    as_json = json.loads((await lapd_cli("show", run_id[:8], "--json")).out)
    assert [c["status"] for c in as_json["cells"]] == ["done", "done", "done"]

    logs = await lapd_cli("logs", run_id)
    assert logs.code == 0, logs.err
    headers = [line for line in logs.out.splitlines() if "cell " in line and "/3" in line]
    assert len(headers) == 3, logs.out
    assert "hello\n" in logs.out and "tick 0\ntick 1\ntick 2\n" in logs.out


async def test_failing_cell_fails_the_wait(lapd_cli, lapd_notebook):
    lapd_notebook(["print('before')", "1 / 0", "print('never')"])
    started = await lapd_cli("run", "nb.ipynb", "--wait")
    assert started.code == 1, started
    run_id = started.out.splitlines()[0]
    assert RUN_ID.match(run_id) and "failed" in started.out.splitlines()[-1]
    assert "ZeroDivisionError" in started.out

    waited = await lapd_cli("wait", run_id[:8])
    assert waited.code == 1 and "failed" in waited.out, waited

    logs = await lapd_cli("logs", run_id[:8])
    assert "ZeroDivisionError: division by zero" in logs.out
    assert "\x1b[" not in logs.out  # not a terminal: colours stripped
    assert "never" not in logs.out
    shown = json.loads((await lapd_cli("show", run_id[:8], "--json")).out)
    assert [c["status"] for c in shown["cells"]] == ["done", "error", "skipped"]


async def test_cancel_a_long_run(lapd_cli, lapd_notebook, lapd_wait):
    lapd_notebook(["print('started', flush=True)\nimport time\ntime.sleep(60)", "print('after')"])
    started = await lapd_cli("run", "nb.ipynb")
    assert started.code == 0, started.err
    run_id = started.out.strip()
    await lapd_wait(run_id, cell=("c0", "running"))

    running = await lapd_cli("list", "--json")
    assert [r["id"] for r in json.loads(running.out)["runs"]] == [run_id]
    cancelled = await lapd_cli("cancel", run_id[:8])
    assert cancelled.code == 0, cancelled.err
    assert cancelled.out.split()[:2] == [run_id[:8], "cancelling"]

    waited = await lapd_cli("wait", run_id[:8])
    assert waited.code == 1, waited
    assert waited.out.split()[1] == "cancelled:"
    again = await lapd_cli("cancel", run_id[:8])
    assert (again.code, again.out.split()[1:]) == (0, ["already", "cancelled"])


class DroppingProxy:
    """A TCP relay to the test server whose connections the test can cut at will."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.requests: list[str] = []  # the first line of each request relayed
        self._open: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        self.drop()
        await self._server.wait_closed()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def drop(self) -> None:
        for writer in list(self._open):
            writer.transport.abort()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._open |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, first: bool) -> None:
            try:
                while data := await src.read(65536):
                    if first:
                        self.requests.append(data.split(b"\r\n", 1)[0].decode())
                        first = False
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))
        self._open -= {writer, up_writer}


async def test_follow_resumes_after_a_dropped_connection(
    lapd_notebook,
    lapd_start,
    jp_serverapp,
    jp_http_port,
    jp_base_url,
    jp_root_dir,
    http_server_client,
):
    go = jp_root_dir / "go"
    gated = (
        "print('tick 0', flush=True)\n"
        f"import os, time\nwhile not os.path.exists({str(go)!r}):\n    time.sleep(0.05)\n"
        "for i in range(1, 4):\n    print(f'tick {i}', flush=True)"
    )
    lapd_notebook([gated, "print('last cell')"])
    run_id = (await lapd_start("nb.ipynb"))["id"]
    async with DroppingProxy(jp_http_port) as proxy:
        url = f"http://127.0.0.1:{proxy.port}{jp_base_url}"
        token = jp_serverapp.identity_provider.token
        proc = await asyncio.create_subprocess_exec(
            *CLI, "logs", "-f", run_id[:8], "--url", url, "--token", token,
            cwd=jp_root_dir, env=cli_env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        seen = b""
        while b"tick 0" not in seen:  # the run waits for `go`: it cannot end meanwhile
            line = await asyncio.wait_for(proc.stdout.readline(), 120)
            assert line, "logs -f ended before the first output"
            seen += line
        proxy.drop()
        go.touch()
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    text = (seen + out).decode()
    assert proc.returncode == 0, err
    assert [line for line in text.splitlines() if line.startswith("tick")] == [
        f"tick {i}" for i in range(4)
    ]
    assert text.count("last cell") == 1 and "completed" in text.splitlines()[-1]
    resumed = [r for r in proxy.requests if "/events?since=" in r]
    assert resumed, proxy.requests


async def test_usage_errors_exit_2(lapd_cli, lapd_notebook):
    lapd_notebook(["x = 1"])
    cases = [
        (("list", "--bogus"), "unknown option --bogus"),
        (("list", "--all=yes"), "option --all takes no value"),
        (("list", "extra"), "NOTEBOOK must be a .ipynb file, not 'extra'"),
        (("list", "a.ipynb", "b.ipynb"), "takes [NOTEBOOK]"),
        (
            ("list", "a.ipynb", "--all-servers"),
            "--all-servers lists every run: it takes no NOTEBOOK",
        ),
        (("list", "--all-servers"), "--all-servers reads the runs database, not a server"),
        (("list", "--all-servers=yes"), "option --all-servers takes no value"),
        (("show",), "takes ID"),
        (("frobnicate",), "unknown subcommand 'frobnicate'"),
        (("run", "nb.ipynb", "--kernel", "nope"), "--kernel must be 'session' or 'new'"),
        (("run", "nb.ipynb", "--cells"), "option --cells needs a value"),
        (("run", "../outside.ipynb"), "outside the server's root directory"),
        # refused by the server: its message is shown
        (("show", "0123abcd"), "No such run: 0123abcd"),
        (("wait", "0123abcd"), "No such run: 0123abcd"),
        (("run", "nb.ipynb", "--cells", "c0,nope"), "Unknown cell id(s): nope"),
        (("run", "missing.ipynb"), "No such notebook: missing.ipynb"),
    ]
    for args, message in cases:
        result = await lapd_cli(*args)
        assert result.code == 2, (args, result)
        assert message in result.err and one_line(result.err), (args, result.err)
        assert "Traceback" not in result.err
    bare = await run_cli(cwd=Path.cwd())
    assert bare.code == 2 and "missing subcommand" in bare.err


async def test_help_lists_commands_and_exit_codes():
    result = await run_cli("--help", cwd=Path.cwd())
    assert result.code == 0, result.err
    for command in ("list", "show", "run", "logs", "cancel", "wait"):
        assert f"\n{command}\n" in result.out
    words = " ".join(result.out.split())  # the help is wrapped to the terminal width
    assert "Exit codes: 0 success;" in words and "3 no server reachable" in words
    run_help = await run_cli("run", "--help", cwd=Path.cwd())
    assert run_help.code == 0 and "--cells" in run_help.out and "--headless" in run_help.out
    run_words = " ".join(run_help.out.split())
    assert "138 the kernel died" in run_words and "130 / 143 stopped by SIGINT" in run_words


async def test_without_a_server(
    lapd_cli, lapd_notebook, lapd_start, lapd_wait, lapd_app, jp_config_dir
):
    """`run`, `cancel` and `wait` need a server (exit 3); `list`, `show` and `logs` read the
    database that the same config names."""
    lapd_notebook(["print('kept in the journal')"])
    run_id = (await lapd_start("nb.ipynb"))["id"]
    assert (await lapd_wait(run_id))["status"] == "completed"
    config = {"Lapd": {"db_path": lapd_app.db_path}}
    (Path(jp_config_dir) / "jupyter_server_config.json").write_text(json.dumps(config))
    gone = ["--url", closed_port_url()]

    for args in (["run", "nb.ipynb"], ["cancel", run_id[:8]], ["wait", run_id[:8]]):
        result = await lapd_cli(*args, *gone, server=False)
        assert result.code == 3, (args, result)
        assert "no server reachable" in result.err and one_line(result.err)

    listed = await lapd_cli("list", "--all", *gone, server=False)
    assert listed.code == 0, listed.err
    assert listed.out.splitlines()[1].split()[:3] == [run_id[:8], "nb.ipynb", "completed"]
    assert one_line(listed.err) and lapd_app.db_path in listed.err
    as_json = await lapd_cli("list", "--all", "--json", *gone, server=False)
    assert [r["id"] for r in json.loads(as_json.out)["runs"]] == [run_id]
    shown = await lapd_cli("show", run_id[:8], "--json", *gone, server=False)
    assert json.loads(shown.out)["cells"][0]["status"] == "done"
    logs = await lapd_cli("logs", run_id[:8], *gone, server=False)
    assert logs.code == 0 and "kept in the journal\n" in logs.out, logs


def test_real_server_found_from_its_root_and_same_db_path(tmp_path):
    """A `jupyter server` subprocess: found without --url, and its c.Lapd.db_path (set only
    in jupyter_server_config.py) is the database the CLI reads once the server is gone."""
    root, runtime, config, data = (tmp_path / d for d in ("root", "runtime", "config", "data"))
    for folder in (root / "sub", runtime, config, data):
        folder.mkdir(parents=True)
    db_path = tmp_path / "elsewhere" / "runs.db"
    extensions = {"ServerApp": {"jpserver_extensions": {"jupyter_lapd": True}}}
    (config / "jupyter_server_config.json").write_text(json.dumps(extensions))
    (config / "jupyter_server_config.py").write_text(f"c.Lapd.db_path = {str(db_path)!r}\n")
    nbformat.write(make_notebook(["print('from a real server')"]), root / "sub" / "nb.ipynb")
    env = cli_env(
        JUPYTER_RUNTIME_DIR=str(runtime), JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(data)
    )
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--allow-root",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            "--port=0",
            "--IdentityProvider.token=secret-for-the-test",
            f"--ServerApp.root_dir={root}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def lapd(*args: str) -> Result:
        done = subprocess.run(
            [*CLI, *args], cwd=root / "sub", env=env, capture_output=True, text=True, timeout=120
        )
        return Result(done.returncode, done.stdout, done.stderr)

    try:
        deadline = time.monotonic() + 60
        while not (runtime / f"jpserver-{server.pid}.json").exists():
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        listed = lapd("list")
        assert (listed.code, listed.err) == (0, ""), listed
        started = lapd("run", "nb.ipynb", "--wait")
        assert started.code == 0, started
        run_id = started.out.splitlines()[0]
        runs = json.loads(lapd("list", "--all", "--json").out)["runs"]
        assert [(r["id"], r["path"]) for r in runs] == [(run_id, "sub/nb.ipynb")]
        # a database named on the command line wins over the server found on the machine
        jobs = tmp_path / "jobs"
        jobs.mkdir()
        nbformat.write(make_notebook(["print('headless')"]), jobs / "train.ipynb")
        headless = subprocess.run(
            [*CLI, "run", "train.ipynb", "--headless"], cwd=jobs, env=env, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        assert headless.returncode == 0, headless
        sidecar = jobs / ".train.ipynb.lapd.db"
        named = lapd("list", "--all", "--json", f"--Lapd.db_path={sidecar}")
        assert named.code == 0, named
        assert [r["path"] for r in json.loads(named.out)["runs"]] == ["train.ipynb"]
        assert str(sidecar) in named.err and one_line(named.err)
        logs = lapd("logs", json.loads(named.out)["runs"][0]["id"], f"--Lapd.db_path={sidecar}")
        assert logs.code == 0 and "headless\n" in logs.out, logs
        # a notebook's path finds the journal of its headless runs beside it
        train = str(jobs / "train.ipynb")
        found = lapd("list", "--all", "--json", train)
        ids = [r["id"] for r in json.loads(named.out)["runs"]]
        assert found.code == 0 and [r["id"] for r in json.loads(found.out)["runs"]] == ids, found
        assert "train.ipynb has headless runs: reading its journal" in found.err, found
        shown = lapd("show", train, "--json")
        assert json.loads(shown.out)["id"] == json.loads(named.out)["runs"][0]["id"], shown
        logs = lapd("logs", train)
        assert logs.code == 0 and "headless\n" in logs.out, logs
        # a notebook without one: the server's runs of it
        served = lapd("list", "--all", "--json", "nb.ipynb")
        assert [r["id"] for r in json.loads(served.out)["runs"]] == [run_id], served
        assert json.loads(lapd("show", "nb.ipynb", "--json").out)["id"] == run_id
        nothing = lapd("show", "other.ipynb")
        assert nothing.code == 2 and "no runs of other.ipynb" in nothing.err, nothing
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    assert f"runs database at {db_path}" in (tmp_path / "server.log").read_text()
    offline = lapd("list", "--all", "--json")
    assert offline.code == 0, offline
    assert str(db_path) in offline.err and one_line(offline.err)
    assert [r["id"] for r in json.loads(offline.out)["runs"]] == [run_id]


async def test_logs_prints_a_bounded_stream_whole_from_the_journal(
    lapd_cli, lapd_app, lapd_notebook, lapd_start, lapd_wait, jp_config_dir
):
    """The server keeps only a head and tail of a giant stream (max_output_bytes); `logs`
    reads the journal, which has every byte (the long texts from the run's stream file)."""
    lapd_app.manager.max_output_bytes = 4096
    config = {"Lapd": {"db_path": lapd_app.db_path}}
    (Path(jp_config_dir) / "jupyter_server_config.json").write_text(json.dumps(config))
    lines = "for i in range(3000):\n    print(f'line {i:05d}')\n"
    one_print = "print(''.join(f'big {i:05d}\\n' for i in range(3000)), end='')"
    lapd_notebook([lines + one_print])
    run_id = (await lapd_start("nb.ipynb"))["id"]
    assert (await lapd_wait(run_id))["status"] == "completed"
    logs = await lapd_cli("logs", run_id[:8])
    assert logs.code == 0, logs.err
    assert "".join(f"line {i:05d}\n" for i in range(3000)) in logs.out
    assert "".join(f"big {i:05d}\n" for i in range(3000)) in logs.out
    assert "bytes elided" not in logs.out
    # the one print of 30,000 characters went to the run's stream file, once
    streams = Path(folder_for(lapd_app.db_path)) / run_id
    assert streams.read_text().count("big 02999\n") == 1
