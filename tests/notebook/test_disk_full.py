"""A full disk, for real: small tmpfs file systems mounted by the tests (they run as root),
one under the runs database and one under a folder of notebooks, filled mid-run.

Outputs may be lost only when neither the journal nor the notebook can be written, and
whatever happens the run ends and says so.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import held_until, read_nb, wait_until

pytestmark = [
    pytest.mark.fault,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root"),
]

DISK_BYTES = 2 * 1024 * 1024


@contextlib.contextmanager
def small_disk(folder: Path) -> Iterator[Path]:
    """A fresh tmpfs of ``DISK_BYTES`` mounted on ``folder`` for the block."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:  # a container without CAP_SYS_ADMIN
        pytest.skip(f"this machine cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Fill the file system under ``folder`` to the last byte; the filler's path."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def printing_until(flag: Path) -> str:
    """A cell printing a line every 50 ms until the test creates ``flag``."""
    return held_until(flag).replace(
        "    time.sleep(0.05)\n", "    print('.', end='', flush=True)\n    time.sleep(0.05)\n"
    )


@pytest.fixture
def db_disk(tmp_path: Path) -> Iterator[Path]:
    # the folder of the runs database of conftest's server (Lapd.db_path)
    with small_disk(tmp_path / "lapd-db") as folder:
        yield folder


@pytest.fixture
def jp_server_config(jp_server_config: Any, db_disk: Path) -> Any:
    assert jp_server_config["Lapd"]["db_path"] == str(db_disk / "runs.db")
    return jp_server_config


async def test_a_full_journal_disk_stops_the_run_which_says_the_notebook_holds_every_output(
    db_disk: Path,
    jp_root_dir: Path,
    lapd_app: Any,
    lapd_notebook: Any,
    lapd_start: Any,
    lapd_wait: Any,
    lapd_events: Any,
) -> None:
    flag = jp_root_dir / "flag"
    path = lapd_notebook([printing_until(flag), "print('after')"])
    run = await lapd_start("nb.ipynb")
    await lapd_wait(run["id"], cell=("c0", "running"))
    filler = fill(db_disk)
    try:
        # the run is stopped while its cell still prints: it ends, with no help
        events = await lapd_events(run["id"])
        ended = await lapd_wait(run["id"], timeout=60)
        assert not flag.exists()
        assert ended["status"] == "failed"
        assert events[-1]["run"]["status"] == "failed"
        error = ended["error"]
        assert "cannot journal the run's events" in error
        assert "database or disk is full" in error
        assert "nb.ipynb holds every output" in error
        assert [c["status"] for c in ended["cells"]] == ["error", "skipped"]
        # and it told the truth: the notebook holds what the kernel printed
        nb = read_nb(path)
        printed = nb.cells[0].outputs[0]["text"]
        assert printed and set(printed) == {"."}
        assert nb.cells[1].outputs == []
    finally:
        filler.unlink()
    # with room again, the database records how the run ended
    await wait_until(
        lambda: lapd_app.manager.store.get_run(run["id"]).status.value == "failed", timeout=60
    )


async def test_a_full_notebook_disk_fails_the_run_the_file_intact_and_the_journal_whole(
    tmp_path: Path,
    jp_root_dir: Path,
    lapd_app: Any,
    lapd_notebook: Any,
    lapd_start: Any,
    lapd_wait: Any,
    lapd_events: Any,
) -> None:
    flag = tmp_path / "flag"
    with small_disk(jp_root_dir / "full"):
        path = lapd_notebook([printing_until(flag), "print('after')"], name="full/nb.ipynb")
        run = await lapd_start("full/nb.ipynb")
        await lapd_wait(run["id"], cell=("c0", "running"))
        await wait_until(lambda: bool(read_nb(path).cells[0].outputs))
        filler = fill(path.parent)
        written = read_nb(path)
        # the kernel goes on printing into a notebook that can no longer be written
        seq = lapd_app.manager.hub.seq(run["id"])
        await wait_until(lambda: lapd_app.manager.hub.seq(run["id"]) > seq + 5)
        flag.touch()
        ended = await lapd_wait(run["id"], timeout=60)
        assert ended["status"] == "failed"
        assert ended["error"] == (
            "could not write full/nb.ipynb: [Errno 28] No space left on device"
        )
        # the file is the last one written whole, and no temporary file is left
        assert (
            read_nb(path)
            .cells[0]
            .outputs[0]["text"]
            .startswith(written.cells[0].outputs[0]["text"])
        )
        assert sorted(p.name for p in path.parent.iterdir()) == ["filler", "nb.ipynb"]
        filler.unlink()
    # every output is in the journal: a page reopening the notebook, `jupyter lapd logs`
    snapshot = (await lapd_events(run["id"]))[0]
    assert snapshot["outputs"]["c1"] == [
        {"output_type": "stream", "name": "stdout", "text": "after\n"}
    ]
    journaled = snapshot["outputs"]["c0"][0]["text"]
    assert journaled.startswith(written.cells[0].outputs[0]["text"])
    assert len(journaled) > len(written.cells[0].outputs[0]["text"])
