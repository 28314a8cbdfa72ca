"""A real `jupyter server` with the extension, as its own process: for kill -9 and restarts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TOKEN = "secret-for-the-test"


# Installed for their own tests (test_collaboration, test_jupytext), enabled in the venv's
# config; a plain server here measures and tests jupyter_lapd alone.
OPTIONAL_OFF = {
    "jupyter_server_ydoc": False,
    "jupyter_server_fileid": False,
    "jupyterlab_jupytext": False,
}


class ServerProcess:
    """One server process over ``root`` with its own runtime, config and data folders.

    Starting it again after a kill reuses the same folders and database, as a restarted
    server on the same machine would.
    """

    def __init__(self, home: Path, root: Path, *args: str, **lapd_config: Any) -> None:
        self.home, self.root, self.args = home, root, list(args)
        self.runtime, self.config = home / "runtime", home / "config"
        for folder in (root, self.runtime, self.config, home / "data"):
            folder.mkdir(parents=True, exist_ok=True)
        config = {
            "ServerApp": {"jpserver_extensions": {"jupyter_lapd": True, **OPTIONAL_OFF}},
            "Lapd": {"db_path": str(home / "runs.db"), **lapd_config},
        }
        (self.config / "jupyter_server_config.json").write_text(json.dumps(config))
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "JUPYTER_RUNTIME_DIR": str(self.runtime),
            "JUPYTER_CONFIG_DIR": str(self.config),
            "JUPYTER_DATA_DIR": str(home / "data"),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.starts = 0

    def start(self, timeout: float = 60, wait_api: bool = True) -> None:
        """Start the server; with ``wait_api``, return once the API answers 200."""
        self.starts += 1
        log = (self.home / f"server-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "jupyter_server", "--allow-root", "--no-browser",
                "--ServerApp.ip=127.0.0.1", "--port=0", f"--IdentityProvider.token={TOKEN}",
                f"--ServerApp.root_dir={self.root}", *self.args,
            ],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        info = self.runtime / f"jpserver-{self.proc.pid}.json"
        deadline = time.monotonic() + timeout
        # the server creates its info file, then writes it: read it once it is whole
        while not _url_in(info):
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        self.url = _url_in(info)
        # recovery runs once the server's loop is up: wait until the API answers
        while wait_api:
            try:
                self.request("GET", "lapd/api/runs")
                return
            except OSError:
                assert time.monotonic() < deadline, "the API did not answer"
                time.sleep(0.1)

    def log(self) -> str:
        return "".join(p.read_text() for p in sorted(self.home.glob("server-*.log")))

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def kill9(self) -> None:
        """SIGKILL the server (its kernels, in sessions of their own, exit when they see
        their parent gone, as after a crash)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError):  # whatever is left of the group
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode


def _url_in(info: Path) -> str:
    """The server's URL from its info file; "" while the file is missing or not yet whole."""
    try:
        return str(json.loads(info.read_text())["url"])
    except (OSError, ValueError, KeyError):
        return ""
