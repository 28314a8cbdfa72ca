"""``jupyter lapd``: list, show, start, follow, cancel and wait for background runs.

A JupyterApp reading the same config files as the server, so ``c.Lapd.db_path`` in
jupyter_server_config.py names the same database for both.

Exit codes:

- 0: success.
- 1: the run failed, was cancelled or was interrupted (``wait``, ``run --wait``), or the
  server failed to answer a request (a 5xx error), or the command itself failed.
- 2: usage error: an unknown subcommand or option, a missing or extra argument, a bad
  value; also any request the server refuses as bad input (a 4xx answer: unknown run or
  notebook, unknown cell id, a notebook that already has an active run, no permission).
- 3: no server reachable. ``list``, ``show`` and ``logs`` then read the runs database.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from jupyter_core.application import JupyterApp
from traitlets import Bool, Unicode

from .._version import __version__
from ..journal.privatefiles import UntrustedFile
from . import render
from .basecommand import (
    COMMON_ALIASES,
    COMMON_FLAGS,
    EXIT_CODES,
    FINDING,
    JSON_FLAG,
    LapdCommand,
    UsageError,
    describe,
    print_error,
)
from .listcommand import ListCommand
from .runheadless import HEADLESS_HELP, HEADLESS_USAGE, HeadlessCommand
from .serverclient import (
    ACTIVE,
    ApiError,
    DatabaseRuns,
    Run,
    ServerInfo,
    ServerRuns,
    ServerUnavailable,
    api_path,
)


class ShowCommand(LapdCommand):
    name = "jupyter lapd show"
    summary = "Show a run and the state of each of its cells."
    description = describe(
        "jupyter lapd show ID|NOTEBOOK [--json]",
        summary + " Given a notebook (a .ipynb path) instead of a run id: its latest run, "
        "read from the journal of its headless runs when one lies beside it.",
    )
    positional = ("ID",)
    flags = {**COMMON_FLAGS, **JSON_FLAG}

    async def execute(self) -> int:
        prefix = await self.run_named()

        async def ask(client: ServerRuns) -> Run:
            return await self.resolve(client, prefix)

        run = await self.read(ask, lambda db: db.resolve(prefix))
        text = render.run_details(run, render.Glyphs(sys.stdout))
        print(json.dumps(run, indent=2) if self.json else text)
        return 0


class RunCommand(HeadlessCommand):
    name = "jupyter lapd run"
    summary = (
        "Start a run of a notebook's code cells on the server and print its id; "
        "or, with --headless, run it here with no server."
    )
    description = describe(
        "jupyter lapd run PATH [--cells ID,..] [--kernel session|new] [--kernel-name NAME] "
        f"[--allow-errors] [--wait]\n       {HEADLESS_USAGE}",
        summary + " PATH is relative to the current directory and must lie under the "
        "server's root. (When the root is unknown, as for a --url without a runtime file, "
        f"a relative PATH is taken as relative to the server's root.)\n\n{HEADLESS_HELP}",
    )
    positional = ("PATH",)
    cells = Unicode(config=True, help="Comma-separated ids of the cells to run (default: all).")
    kernel = Unicode(
        "session",
        config=True,
        help="'session': the notebook's own kernel (started if needed); 'new': a fresh one.",
    )
    kernel_name = Unicode(config=True, help="Kernel spec (default: the notebook's).")
    allow_errors = Bool(False, config=True, help="Go on with the next cells after an error.")
    wait = Bool(False, config=True, help="Follow progress until the run ends; exit as `wait`.")
    aliases = {
        **COMMON_ALIASES,
        "cells": "RunCommand.cells",
        "kernel": "RunCommand.kernel",
        "kernel-name": "RunCommand.kernel_name",
        "resume": "RunCommand.resume",
        "retries": "RunCommand.retries",
        "timeout": "RunCommand.timeout",
        "output": "RunCommand.output",
        "db-path": "RunCommand.headless_db",
        "setup-cells": "RunCommand.setup_cells",
        "on-sigterm": "RunCommand.on_sigterm",
        "grace": "RunCommand.grace",
    }
    flags = {
        **COMMON_FLAGS,
        "allow-errors": ({"RunCommand": {"allow_errors": True}}, allow_errors.help),
        "wait": ({"RunCommand": {"wait": True}}, wait.help),
        "headless": ({"RunCommand": {"headless": True}}, HeadlessCommand.headless.help),
    }

    def body(self, server: ServerInfo) -> dict[str, Any]:
        if self.kernel not in ("session", "new"):
            raise UsageError(f"--kernel must be 'session' or 'new', not {self.kernel!r}")
        try:
            body: dict[str, Any] = {"path": api_path(self.extra_args[0], server.root_dir)}
        except ValueError as e:
            raise UsageError(f"{e} (server {server.url})") from None
        body.update(kernel=self.kernel, allow_errors=self.allow_errors)
        if self.cells:
            body["cells"] = [c.strip() for c in self.cells.split(",") if c.strip()]
            if not body["cells"]:
                raise UsageError("--cells needs at least one cell id")
        if self.kernel_name:
            body["kernel_name"] = self.kernel_name
        return body

    async def execute(self) -> int:
        self.check_headless()
        if self.headless:
            options = self.headless_options(self.cells, self.kernel_name, self.allow_errors)
            return await self.run_headless(options)
        server = self.server()
        body = self.body(server)
        client = ServerRuns(server)
        try:
            run = await client.create_run(body)
            print(run["id"], flush=True)
            return await self.wait_for(client, run) if self.wait else 0
        finally:
            client.close()


class LogsCommand(LapdCommand):
    name = "jupyter lapd logs"
    summary = "Print a run's outputs as text; -f follows the run live until it ends."
    description = describe(
        "jupyter lapd logs ID|NOTEBOOK [-f]",
        summary + " A header line per cell, then stream text, tracebacks (colours kept on a "
        "terminal) and [mime/type] placeholders for rich outputs. Without a server the "
        "outputs are rebuilt from the run's journal in the database. Given a notebook (a "
        ".ipynb path): its latest run, read from the journal of its headless runs when "
        "one lies beside it.",
    )
    positional = ("ID",)
    follow = Bool(False, config=True, help="Follow the run live until it ends.")
    flags = {
        **COMMON_FLAGS,
        "f": ({"LogsCommand": {"follow": True}}, follow.help),
        "follow": ({"LogsCommand": {"follow": True}}, follow.help),
    }

    async def execute(self) -> int:
        prefix = await self.run_named()
        writer = render.LogWriter(sys.stdout, sys.stdout.isatty(), render.Glyphs(sys.stdout))
        if self.db_named or self.notebook_db:
            return self.from_database(prefix, writer, self.local_reason, None)
        server: ServerInfo | None = None
        try:
            server = self.server()
            client = ServerRuns(server)
        except ServerUnavailable as e:
            return self.from_database(prefix, writer, str(e), server)
        try:
            try:
                run_id = str((await self.resolve(client, prefix))["id"])
            except ServerUnavailable as e:
                return self.from_database(prefix, writer, str(e), server)
            if not self.follow:
                snapshot = await client.snapshot(run_id)
                outputs = snapshot.get("outputs") or {}
                # the server bounds big streams (max_output_bytes); the journal in the
                # database, when this machine has it, holds every byte
                if not render.elided(outputs) or not self.whole_log(writer, snapshot["run"]):
                    writer.snapshot(snapshot["run"], outputs)
                return 0
            async for event in client.events(run_id):
                writer.event(event)
            writer.finish(await client.get_run(run_id))
            return 0
        finally:
            client.close()

    def whole_log(self, writer: render.LogWriter, run: dict[str, Any]) -> bool:
        """Write the run's whole log from the local database, if it has the run."""
        if not os.path.exists(self.db_path):
            return False
        database = DatabaseRuns(self.db_path)
        try:
            if not database.has_run(str(run["id"])):
                return False
            database.write_log(writer, run)
            return True
        finally:
            database.close()

    def from_database(
        self, prefix: str, writer: render.LogWriter, reason: str, server: ServerInfo | None
    ) -> int:
        database = self.database(reason, server)
        try:
            run = database.resolve(prefix)
            database.write_log(writer, run)
        finally:
            database.close()
        if self.follow and run["status"] in ACTIVE:
            print_error("cannot follow the run without a server")
        return 0


class CancelCommand(LapdCommand):
    name = "jupyter lapd cancel"
    summary = "Cancel a run: interrupt its running cell and skip the rest."
    description = describe("jupyter lapd cancel ID", summary)
    positional = ("ID",)

    async def execute(self) -> int:
        client = ServerRuns(self.server())
        try:
            run = await self.resolve(client, self.run_id())
            if run["status"] not in ACTIVE:
                print(f"{render.short_id(run)} already {run['status']}")
                return 0
            run = await client.cancel_run(str(run["id"]))
            state = "cancelling" if run["status"] in ACTIVE else run["status"]
            print(f"{render.short_id(run)} {state} ({run['path']})")
            return 0
        finally:
            client.close()


class WaitCommand(LapdCommand):
    name = "jupyter lapd wait"
    summary = "Wait for a run to end: exit 0 if it completed, 1 if not."
    description = describe("jupyter lapd wait ID", summary)
    positional = ("ID",)

    async def execute(self) -> int:
        client = ServerRuns(self.server())
        try:
            return await self.wait_for(client, await self.resolve(client, self.run_id()))
        finally:
            client.close()


COMMANDS: dict[str, type[LapdCommand]] = {
    "list": ListCommand,
    "show": ShowCommand,
    "run": RunCommand,
    "logs": LogsCommand,
    "cancel": CancelCommand,
    "wait": WaitCommand,
}


class JupyterLapd(JupyterApp):
    """The ``jupyter lapd`` entry point: dispatches to a subcommand."""

    name = "jupyter lapd"
    version = __version__
    description = (
        "Background notebook runs (jupyter_lapd): the server executes the cells and writes "
        f"every output into the .ipynb.\n\n{FINDING}\n\n{EXIT_CODES}"
    )
    examples = """
jupyter lapd run analysis.ipynb --wait    # run every code cell, wait for the end
jupyter lapd run nb.ipynb --cells a1,b2   # run two cells in the background
jupyter lapd list --all                   # runs, including finished ones
jupyter lapd list --all-servers           # the runs of every server sharing the database
jupyter lapd logs -f 3f2a                 # follow a run (any unique id prefix)
jupyter lapd cancel 3f2a
"""
    subcommands: dict[str, Any] = {
        name: (command, command.summary) for name, command in COMMANDS.items()
    }
    aliases: dict[str, Any] = {}
    flags: dict[str, Any] = {}

    def initialize(self, argv: Any = None) -> None:
        argv = list(sys.argv[1:] if argv is None else argv)
        commands = ", ".join(COMMANDS)
        first = argv[0] if argv else None
        if first is None:
            raise UsageError(f"missing subcommand: one of {commands} (see jupyter lapd --help)")
        if first not in COMMANDS and first not in {"help", "-h", "--help", "--help-all"}:
            if first.startswith("-") and first not in {"--version", "-V"}:
                raise UsageError(f"options go after the subcommand ({commands}), not {first}")
            if not first.startswith("-"):
                raise UsageError(f"unknown subcommand {first!r}: use one of {commands}")
        self.parse_command_line(argv)


def run_cli(argv: list[str] | None = None) -> int:
    """Run ``jupyter lapd`` with ``argv`` and return its exit code."""
    app = JupyterLapd()
    try:
        app.initialize(argv)
        if not isinstance(app.subapp, LapdCommand):
            raise UsageError("missing subcommand (see jupyter lapd --help)")
        return asyncio.run(app.subapp.execute())
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    except UsageError as e:
        print_error(str(e))
        return 2
    except ApiError as e:
        print_error(e.message)
        return 2 if 400 <= e.status < 500 else 1
    except ServerUnavailable as e:
        print_error(str(e))
        return 3
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `jupyter lapd list --help | head`: main() handles it
        raise
    except UntrustedFile as e:  # a planted file beside a notebook: refused, nothing run
        print_error(str(e))
        return 1
    except Exception as e:  # a bug: one line, the traceback with --debug
        (app.subapp or app).log.debug("jupyter lapd failed", exc_info=True)
        print_error(f"unexpected error: {type(e).__name__}: {e} (--debug shows the traceback)")
        return 1


def main() -> None:
    """Console script ``jupyter-lapd``, which ``jupyter lapd`` runs."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    try:
        code = run_cli()
        sys.stdout.flush()
    except BrokenPipeError:  # `jupyter lapd list | head`: the reader left, nothing to add
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
