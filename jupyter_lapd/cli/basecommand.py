"""LapdCommand: what every ``jupyter lapd`` subcommand shares (config, server, database)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from copy import deepcopy
from typing import Any, TypeVar

from jupyter_core.application import JupyterApp
from traitlets import Bool, TraitError, Unicode, default
from traitlets.config.application import Application
from traitlets.config.loader import ConfigFileNotFound

from .._version import __version__
from ..config import CONFIG_FILE_NAME, checked_db_path, default_db_path, sidecar_path
from . import render
from .serverclient import (
    ApiError,
    DatabaseRuns,
    Run,
    ServerInfo,
    ServerRuns,
    ServerUnavailable,
    api_path,
    find_server,
    root_holding,
)

T = TypeVar("T")

DB_NAMED = "--Lapd.db_path names the database"

EXIT_CODES = """Exit codes: 0 success; 1 the run failed, was cancelled or interrupted (wait,
run --wait), the server failed (5xx) or an unexpected error; 2 usage error, including any request the server
refuses as bad input (4xx: unknown run, notebook or cell id, a run already active on the
notebook); 3 no server reachable (list, show and logs then read the runs database)."""

FINDING = """The server is the one whose root directory holds the current directory, else
the most recently started (from the runtime files `jupyter server list` reads); --url and
--token (or JUPYTER_LAPD_URL and JUPYTER_LAPD_TOKEN) override. An ID may be any unique
prefix of a run id."""


class UsageError(Exception):
    """Bad command line or configuration: exit 2."""


def print_error(message: str) -> None:
    print(f"jupyter lapd: {message}", file=sys.stderr, flush=True)


def check_argv(argv: list[str], app: LapdCommand) -> None:
    """Reject what traitlets would let pass with a warning: unknown options, stray values,
    missing or extra arguments."""
    positional, i = 0, 0
    while i < len(argv):
        token, i = argv[i], i + 1
        if token == "--":
            positional += len(argv) - i
            break
        if not token.startswith("-") or token == "-":
            positional += 1
            continue
        name, eq, _ = token.lstrip("-").partition("=")
        if name in app.flags and (token.startswith("--") or len(name) == 1):
            if eq:
                raise UsageError(f"option {token.split('=')[0]} takes no value")
        elif (name in app.aliases and token.startswith("--")) or "." in name:
            # "." : any --Class.trait=value, as traitlets allows
            if not eq and (i >= len(argv) or argv[i].startswith("--")):
                raise UsageError(f"option {token} needs a value")
            i += 0 if eq else 1
        else:
            raise UsageError(f"unknown option {token} (see {app.name} --help)")
    expected = len(app.positional)
    if not expected - app.optional <= positional <= expected:
        names = [*app.positional[: expected - app.optional]]
        names += [f"[{name}]" for name in app.positional[expected - app.optional :]]
        what = " ".join(names) or "no argument"
        raise UsageError(f"{app.name} takes {what} (see {app.name} --help)")


def describe(usage: str, text: str) -> str:
    return f"Usage: {usage}\n\n{text}\n\n{EXIT_CODES}"


COMMON_ALIASES: dict[str, Any] = {
    "url": "LapdCommand.url",
    "token": "LapdCommand.token",
    "config": "JupyterApp.config_file",
    "log-level": "Application.log_level",
}
COMMON_FLAGS: dict[str, Any] = {"debug": JupyterApp.flags["debug"]}
JSON_FLAG = {"json": ({"LapdCommand": {"json": True}}, "Print JSON (the REST API's shape).")}


class LapdCommand(JupyterApp):
    """Base of the subcommands: config as the server reads it, the server, the database."""

    version = __version__
    aliases = COMMON_ALIASES
    flags = COMMON_FLAGS
    positional: tuple[str, ...] = ()
    optional = 0  # how many of the last positional arguments may be left out
    summary = ""
    # the journal of headless runs beside the notebook given (see for_notebook)
    notebook_db: str | None = None

    url = Unicode(config=True, help="Base URL of the server (default: $JUPYTER_LAPD_URL).")
    token = Unicode(config=True, help="API token of the server (default: $JUPYTER_LAPD_TOKEN).")
    json = Bool(False, config=True, help="Print JSON instead of text.")

    @default("url")
    def _url_default(self) -> str:
        return os.environ.get("JUPYTER_LAPD_URL", "")

    @default("token")
    def _token_default(self) -> str:
        return os.environ.get("JUPYTER_LAPD_TOKEN", "")

    def _config_file_name_default(self) -> str:
        return "jupyter_server_config"

    def _log_level_default(self) -> int:
        return logging.WARNING

    def load_config_file(self, suppress_errors: bool = True) -> None:  # type: ignore[override]
        """Load what the server would: the extension's own file, then jupyter_config and
        jupyter_server_config over it (as linking an ExtensionApp does)."""
        with contextlib.suppress(ConfigFileNotFound):
            Application.load_config_file(self, CONFIG_FILE_NAME, path=self.config_file_paths)
        super().load_config_file(suppress_errors)

    def initialize(self, argv: Any = None) -> None:
        """JupyterApp.initialize with strict options and no external subcommands."""
        self.parse_command_line(argv)
        cl_config = deepcopy(self.config)
        self.load_config_file()
        try:
            self.update_config(cl_config)  # the command line wins over config files
        except TraitError as e:  # a value of the wrong type (--retries soon): usage, exit 2
            raise UsageError(str(e)) from None

    def parse_command_line(self, argv: Any = None) -> None:
        argv = list(sys.argv[1:] if argv is None else argv)
        if not {"-h", "--help", "--help-all", "--version", "-V"} & set(argv):
            check_argv(argv, self)
        # traitlets' own parse_command_line turns a bad value (--retries soon) into a log
        # line and exit 1 (its catch_config_error); the undecorated one lets us say exit 2
        parse = getattr(JupyterApp.parse_command_line, "__wrapped__", JupyterApp.parse_command_line)
        try:
            parse(self, argv)
        except TraitError as e:
            raise UsageError(str(e)) from None

    @property
    def db_named(self) -> bool:
        """Whether the command line names the database (``--Lapd.db_path``): then it is
        read, whatever server runs on the machine."""
        return "db_path" in self.cli_config.get("Lapd", {})

    @property
    def db_path(self) -> str:
        """The database the server uses: ``Lapd.db_path`` from the same config."""
        configured = self.config.Lapd.get("db_path")
        if configured is None:
            return default_db_path()
        try:
            return checked_db_path(configured)
        except ValueError as e:
            raise UsageError(f"bad configuration: {e}") from None

    def server(self) -> ServerInfo:
        try:
            return find_server(self.url, self.token)
        except ValueError as e:
            raise UsageError(str(e)) from None

    def database(self, reason: str, server: ServerInfo | None = None) -> DatabaseRuns:
        """The runs database, read because no server answers (``reason``): the runs of
        ``server`` when its root is known, else of the server whose root holds the current
        directory, else of every server sharing the database. A notebook's own journal
        (``notebook_db``) holds that notebook's headless runs only: all of them."""
        try:
            database = DatabaseRuns(self.notebook_db or self.db_path)
        except ServerUnavailable as e:
            raise ServerUnavailable(f"{reason}; {e}") from None
        if not os.path.exists(database.db_path):
            missing = " (it does not exist yet)"
            print_error(f"{reason}; reading the runs database {database.db_path}{missing}")
            return database
        if self.notebook_db is not None:
            roots = database.roots()  # the notebook's folder, or each folder it ran in
            database.root = roots[0] if len(roots) == 1 else None
            print_error(f"{reason}: reading its journal {render.home_relative(database.db_path)}")
            return database
        root = server.root_dir if server is not None and server.root_dir else None
        database.root = root or root_holding(database.roots())
        scope = (
            f"runs of the server over {database.root}"
            if database.root is not None
            else "runs of every server sharing it (no server's root holds this directory)"
        )
        print_error(f"{reason}; reading the runs database {database.db_path}: {scope}")
        return database

    async def read(
        self, ask: Callable[[ServerRuns], Awaitable[T]], look_up: Callable[[DatabaseRuns], T]
    ) -> T:
        """Ask the server; when none answers, say so and read the database instead. A
        database named on the command line (``--Lapd.db_path``) is read whatever server
        runs: it is the one the user asked for (a headless run's journal, say)."""
        if self.db_named or self.notebook_db:
            database = self.database(self.local_reason)
            try:
                return look_up(database)
            finally:
                database.close()
        server: ServerInfo | None = None
        try:
            server = self.server()
            client = ServerRuns(server)
            try:
                return await ask(client)
            finally:
                client.close()
        except ServerUnavailable as e:
            database = self.database(str(e), server)
            try:
                return look_up(database)
            finally:
                database.close()

    async def resolve(self, client: ServerRuns, prefix: str) -> Run:
        """The server's run named by an id or unique prefix. A run the server does not
        know may be another server's (one sharing the database): the error then says so."""
        try:
            return await client.resolve(prefix)
        except ApiError as e:
            hint = self.elsewhere(prefix, client.server) if e.status == 404 else None
            if hint is None:
                raise
            raise ApiError(e.status, f"{e.message} on this server ({hint})") from None

    def elsewhere(self, prefix: str, server: ServerInfo) -> str | None:
        """Where a run the server answered 404 for lives, from the local database, if it
        is a run of a server over another root."""
        try:
            if not os.path.exists(self.db_path):
                return None
            database = DatabaseRuns(self.db_path)
            try:
                found = [r for r in database.list_runs(False) if str(r["id"]).startswith(prefix)]
            finally:
                database.close()
        except Exception:  # only a hint: never the reason a command fails
            return None
        if len(found) != 1 or found[0]["root"] == (server.root_dir or ""):
            return None
        run = found[0]
        return (
            f"{render.short_id(run)} is a run of the server over {run['root']}: run the command"
            " in that folder, or see jupyter lapd list --all-servers"
        )

    @property
    def local_reason(self) -> str:
        """Why the database named on the command line, or a notebook's journal, is read."""
        if self.db_named:
            return DB_NAMED
        return f"{self.extra_args[0]} has headless runs"

    def for_notebook(self, arg: str) -> bool:
        """Whether ``arg`` names a notebook (a path ending in ``.ipynb``) rather than a
        run; if its headless runs' journal lies beside it (``.NAME.ipynb.lapd.db``), it is
        read from now on, unless ``--Lapd.db_path`` names another database."""
        if not arg.endswith(".ipynb"):
            return False
        journal = sidecar_path(arg)
        if not self.db_named and os.path.isfile(journal):
            self.notebook_db = journal
        return True

    async def runs_of(self, notebook: str, active_only: bool) -> list[Run]:
        """The runs of ``notebook`` (a path from the current directory), newest first:
        from its own journal, or from the server (or its database) by the notebook's path."""

        def mine(runs: list[Run], root: str | None) -> list[Run]:
            if self.notebook_db is not None:
                return runs  # the notebook's own journal holds nothing else
            try:
                wanted = api_path(notebook, root)
            except ValueError:
                return []  # outside the server's root: none of its runs
            return [run for run in runs if run["path"] == wanted]

        async def ask(client: ServerRuns) -> list[Run]:
            return mine(await client.list_runs(active_only), client.server.root_dir)

        def look_up(database: DatabaseRuns) -> list[Run]:
            return mine(database.list_runs(active_only), database.root)

        return await self.read(ask, look_up)

    async def latest_of(self, notebook: str) -> str:
        """The id of the notebook's latest run; ApiError(404) if it has none."""
        runs = await self.runs_of(notebook, active_only=False)
        if not runs:
            where = "" if self.notebook_db else f" (and no journal {sidecar_path(notebook)})"
            raise ApiError(404, f"no runs of {notebook}{where}")
        return str(runs[0]["id"])

    def run_id(self) -> str:
        prefix = self.extra_args[0].strip()
        if not prefix:
            raise UsageError("the run id must not be empty")
        return prefix

    async def run_named(self) -> str:
        """The run the argument names: a run id or prefix, or a notebook (its latest run)."""
        prefix = self.run_id()
        return await self.latest_of(prefix) if self.for_notebook(prefix) else prefix

    async def execute(self) -> int:
        raise NotImplementedError

    async def wait_for(self, client: ServerRuns, run: Run) -> int:
        """Follow the run's progress on stderr until it ends; 0 if it completed."""
        progress = render.Progress(sys.stderr)
        run = await client.wait(run, progress.show)
        progress.clear()
        print(render.summary(run), flush=True)
        return 0 if run["status"] == "completed" else 1
