"""A real ``jupyter server`` with jupyter_lapd, started by the benchmark as its child process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TOKEN = "lapd-bench-token"
FINAL = {"completed", "failed", "cancelled", "interrupted"}


# Installed for their own tests (test_collaboration, test_jupytext), enabled in the venv's
# config; a plain server here measures and tests jupyter_lapd alone.
OPTIONAL_OFF = {
    "jupyter_server_ydoc": False,
    "jupyter_server_fileid": False,
    "jupyterlab_jupytext": False,
}


# Every other kernel of the benchmark keeps its IPython history in memory (nbclient's and
# papermill's default, lapd's own kernels, the floor): so do the server's session kernels,
# or the comparison would measure IPython's history database (~20% of a trivial cell)
# instead of the tools.
KERNEL_CONFIG = 'c.HistoryManager.hist_file = ":memory:"\n'


class BenchServer:
    """One server over ``root`` with its own runtime, config and data folders, default
    settings except the database path (so the benchmark measures what users get) and the
    kernels' history (``KERNEL_CONFIG``)."""

    def __init__(
        self,
        home: Path,
        root: Path,
        lab: bool = False,
        server_config: dict[str, dict[str, Any]] | None = None,
        **lapd_config: Any,
    ) -> None:
        self.home, self.root, self.lab = home, root, lab
        self.db_path = str(home / "runs.db")
        self.runtime, self.config = home / "runtime", home / "config"
        ipython = home / "ipython"
        for folder in (root, self.runtime, self.config, home / "data", ipython / "profile_default"):
            folder.mkdir(parents=True, exist_ok=True)
        (ipython / "profile_default" / "ipython_kernel_config.py").write_text(KERNEL_CONFIG)
        config: dict[str, Any] = {
            "ServerApp": {"jpserver_extensions": {"jupyter_lapd": True, **OPTIONAL_OFF}},
            "Lapd": {"db_path": self.db_path, **lapd_config},
            **(server_config or {}),  # more sections of the server's configuration
        }
        if lab:  # JupyterLab's page, driven by bench/ui.py through window.jupyterapp
            # jupyter-collaboration's page extension needs its server extension, with
            # real-time collaboration turned off there (the notebook is not shared).
            extensions = config["ServerApp"]["jpserver_extensions"]
            extensions.update(jupyterlab=True, jupyter_server_ydoc=True, jupyter_server_fileid=True)
            config["YDocExtension"] = {"disable_rtc": True}
            config["LabApp"] = {
                "expose_app_in_browser": True,
                "user_settings_dir": str(home / "settings"),
                "workspaces_dir": str(home / "workspaces"),
            }
            _write_lab_settings(home / "settings")
        (self.config / "jupyter_server_config.json").write_text(json.dumps(config))
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "JUPYTER_RUNTIME_DIR": str(self.runtime),
            "JUPYTER_CONFIG_DIR": str(self.config),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "IPYTHONDIR": str(ipython),  # read by the kernels the server starts
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 90) -> None:
        log = (self.home / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "jupyterlab" if self.lab else "jupyter_server", "--allow-root", "--no-browser",
                "--ServerApp.ip=127.0.0.1", "--port=0", f"--IdentityProvider.token={TOKEN}",
                f"--ServerApp.root_dir={self.root}",
            ],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        info = self.runtime / f"jpserver-{self.proc.pid}.json"
        deadline = time.monotonic() + timeout
        while not info.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start:\n" + self.log())
            time.sleep(0.1)
        self.url = json.loads(info.read_text())["url"]
        while True:
            try:
                self.request("GET", "lapd/api/runs?status=running")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def log(self) -> str:
        path = self.home / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def start_run(self, api_path: str, kernel: str) -> dict[str, Any]:
        run: dict[str, Any] = self.request(
            "POST", "lapd/api/runs", {"path": api_path, "kernel": kernel}
        )
        return run

    def wait(self, run_ids: list[str], timeout: float, poll: float = 0.5) -> list[dict[str, Any]]:
        """Poll until every run has a final status (or ``timeout``); their records.

        Seldom, so as not to load the server being measured: times come from the records.
        """
        deadline = time.monotonic() + timeout
        done: dict[str, dict[str, Any]] = {}
        while len(done) < len(run_ids) and time.monotonic() < deadline:
            for run_id in run_ids:
                if run_id not in done:
                    run = self.request("GET", f"lapd/api/runs/{run_id}")
                    if run["status"] in FINAL:
                        done[run_id] = run
            time.sleep(poll)
        return [done.get(r) or self.request("GET", f"lapd/api/runs/{r}") for r in run_ids]

    def close_sessions(self) -> None:
        """Shut down the session kernels runs in ``session`` mode left behind, so that
        every run starts its kernel as the other tools do."""
        for session in self.request("GET", "api/sessions"):
            with contextlib.suppress(urllib.error.URLError):
                self.request("DELETE", f"api/sessions/{session['id']}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _write_lab_settings(folder: Path) -> None:
    """A page that starts the notebook's kernel without asking and shows no news."""
    settings = {
        "notebook-extension/tracker": {"autoStartDefaultKernel": True},
        "apputils-extension/notification": {"checkForUpdates": False, "fetchNews": "false"},
    }
    for name, values in settings.items():
        path = folder / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
