"""The runs database and stream files are their owner's alone, and what is planted beside
them is never read: real files, real SQLite, modes and owners as the OS reports them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jupyter_lapd.journal.privatefiles import UntrustedFile
from jupyter_lapd.journal.store import Store
from jupyter_lapd.journal.streamfiles import FILE_TEXT_CHARS, StreamFiles, folder_for

pytestmark = pytest.mark.fault

LONG = "x" * (FILE_TEXT_CHARS + 1)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def journal_long_text(db: Path, run_id: str = "r1") -> None:
    store = Store(str(db))
    try:
        event = {"output_type": "stream", "name": "stdout", "text": LONG}
        store.append_events(run_id, [{"seq": 1, "type": "output", "cell_id": "c", "output": event}])
    finally:
        store.close()


def test_the_database_its_wal_and_the_stream_files_are_the_owners_alone(tmp_path: Path) -> None:
    db = tmp_path / "lapd" / "runs.db"
    old = os.umask(0o022)  # the usual umask: files 0644 unless made otherwise
    try:
        store = Store(str(db))
        try:
            event = {"output_type": "stream", "name": "stdout", "text": LONG}
            store.append_events(
                "r1", [{"seq": 1, "type": "output", "cell_id": "c", "output": event}]
            )
            wal = Path(f"{db}-wal")
            assert wal.exists()
            streams = Path(folder_for(str(db)))
            assert (mode(db), mode(wal), mode(Path(f"{db}-shm"))) == (0o600, 0o600, 0o600)
            assert (mode(db.parent), mode(streams), mode(streams / "r1")) == (0o700, 0o700, 0o600)
        finally:
            store.close()
    finally:
        os.umask(old)


def test_files_an_earlier_version_left_readable_are_narrowed(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)  # a folder of the user's own, as a notebook's folder is
    db = tmp_path / "runs.db"
    journal_long_text(db)
    streams = Path(folder_for(str(db)))
    for path, was in ((db, 0o644), (streams, 0o755), (streams / "r1", 0o644)):
        os.chmod(path, was)
    store = Store(str(db))
    try:
        assert store.read_events("r1")[0]["output"]["text"] == LONG
    finally:
        store.close()
    assert (mode(db), mode(streams), mode(streams / "r1")) == (0o600, 0o700, 0o600)
    assert mode(tmp_path) == 0o755  # a folder the user had is left as it was


def test_a_planted_stream_file_linking_elsewhere_is_never_read(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    journal_long_text(db)
    secret = tmp_path / "secret"
    secret.write_text("y" * (FILE_TEXT_CHARS + 1))
    planted = Path(folder_for(str(db))) / "r1"
    planted.unlink()
    planted.symlink_to(secret)
    store = Store(str(db))
    try:
        with pytest.raises(UntrustedFile, match="symbolic link"):
            store.read_events("r1")
        with pytest.raises(UntrustedFile, match="symbolic link"):
            StreamFiles(folder_for(str(db))).append("r1", [LONG])
    finally:
        store.close()
    assert secret.read_text() == "y" * (FILE_TEXT_CHARS + 1)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_another_users_stream_file_or_database_is_never_opened(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    journal_long_text(db)
    os.chown(Path(folder_for(str(db))) / "r1", 1, 1)
    store = Store(str(db))
    try:
        with pytest.raises(UntrustedFile, match="another user"):
            store.read_events("r1")
    finally:
        store.close()
    os.chown(db, 1, 1)
    with pytest.raises(UntrustedFile, match="another user"):
        Store(str(db))
