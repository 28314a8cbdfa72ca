"""``jupyter lapd list``: the runs of this server, or of every server sharing the database."""

from __future__ import annotations

import json
import os
import sys

from traitlets import Bool

from . import render
from .basecommand import COMMON_FLAGS, JSON_FLAG, LapdCommand, UsageError, describe, print_error
from .serverclient import DatabaseRuns, Run, ServerRuns, ServerUnavailable


class ListCommand(LapdCommand):
    name = "jupyter lapd list"
    summary = "List active runs (queued, running), newest first; --all adds finished ones."
    description = describe(
        "jupyter lapd list [NOTEBOOK] [--all] [--all-servers] [--json]",
        summary + " Only the server's own runs: servers that share one runs database "
        "(c.Lapd.db_path; JupyterHub servers over the same home directory, each with its "
        "own root directory) keep their runs apart.\n\n--all-servers lists the runs of "
        "every server sharing the database, with a ROOT column (a 'root' field with "
        "--json) naming the root directory of each run's server. It reads the database "
        "itself, not the servers, so servers that are stopped, or not reachable from here, "
        "count too; a run whose server died shows as last recorded until that server "
        "starts again. It takes no --url or --token.\n\nWhen no server answers, list "
        "reads the database: the runs of the server whose root holds the current "
        "directory, or of every server if none does.\n\nWith NOTEBOOK (a .ipynb path), the "
        "runs of that notebook only: its headless runs when their journal lies beside it "
        "(.NAME.ipynb.lapd.db, as `jupyter lapd run --headless` keeps it), else the "
        "server's runs of it.",
    )
    positional = ("NOTEBOOK",)
    optional = 1
    all = Bool(False, config=True, help="Include finished runs.")
    all_servers = Bool(
        False,
        config=True,
        help="Runs of every server sharing the runs database, read from it, with their root.",
    )
    flags = {
        **COMMON_FLAGS,
        **JSON_FLAG,
        "all": ({"ListCommand": {"all": True}}, all.help),
        "all-servers": ({"ListCommand": {"all_servers": True}}, all_servers.help),
    }

    async def execute(self) -> int:
        active_only = not self.all
        notebook = self.extra_args[0] if self.extra_args else None
        if notebook is not None and not self.for_notebook(notebook):
            raise UsageError(f"NOTEBOOK must be a .ipynb file, not {notebook!r}")
        if self.all_servers and notebook is not None:
            raise UsageError("--all-servers lists every run: it takes no NOTEBOOK")
        if notebook is not None:
            runs = await self.runs_of(notebook, active_only)
        elif self.all_servers:
            given = [f"--{name}" for name in ("url", "token") if self.given(name)]
            if given:
                raise UsageError(
                    f"--all-servers reads the runs database, not a server: it takes no "
                    f"{' or '.join(given)}"
                )
            every = self.every_server(active_only)
            if every is None:
                return 1
            runs = every
        else:

            async def ask(client: ServerRuns) -> list[Run]:
                return await client.list_runs(active_only)

            runs = await self.read(ask, lambda db: db.list_runs(active_only))
        if self.json:
            print(json.dumps({"runs": runs}, indent=2))
        elif not runs:
            where = " on any server" if self.all_servers else ""
            print(
                f"no active runs{where} (--all shows finished ones)"
                if active_only
                else f"no runs{where}"
            )
        else:
            print(render.runs_table(runs, render.Glyphs(sys.stdout)))
        return 0

    def given(self, name: str) -> bool:
        """Whether the command line set option ``name`` (an environment default does not)."""
        return any(name in self.cli_config.get(cls, {}) for cls in ("LapdCommand", "ListCommand"))

    def every_server(self, active_only: bool) -> list[Run] | None:
        """The runs of every server sharing the database; None (said why) if unreadable."""
        try:
            database = DatabaseRuns(self.db_path)
        except ServerUnavailable as e:
            print_error(str(e))
            return None
        try:
            if not os.path.exists(database.db_path):
                print_error(f"the runs database {database.db_path} does not exist yet")
            return database.list_runs(active_only)
        finally:
            database.close()
