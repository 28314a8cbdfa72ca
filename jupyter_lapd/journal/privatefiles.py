"""The files jupyter_lapd keeps (runs database, stream files): readable by their owner alone.

Every output of every run is in them, secrets a notebook printed included, so they are
created as Jupyter creates its own runtime files: 0600, in folders of 0700. A file of an
earlier version, made readable by others, is narrowed when opened. What is opened is
never followed through a symbolic link, and must belong to the user opening it: a file
planted beside a notebook (a database whose stream file links to someone's secrets)
is refused, never read into a notebook.
"""

from __future__ import annotations

import os
import stat

FILE_MODE = 0o600
FOLDER_MODE = 0o700


class UntrustedFile(OSError):
    """A file that is not the user's own regular file (a link, another user's file)."""


def private_folder(path: str) -> None:
    """Create the folder ``path`` (0700) if it does not exist; parents as usual."""
    os.makedirs(path, mode=FOLDER_MODE, exist_ok=True)


def private_file(path: str) -> None:
    """Make sure ``path`` exists as the user's own file, readable by nobody else."""
    fd = open_private(path, os.O_WRONLY | os.O_CREAT)
    os.close(fd)


def open_private(path: str, flags: int) -> int:
    """``os.open`` of a file of the user's own, never through a symbolic link; a new
    file is created 0600, an existing one is narrowed to 0600.

    Raises ``UntrustedFile`` for a link, a file that is not a regular file, or another
    user's file.
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    except OSError as e:
        if os.path.islink(path):
            raise UntrustedFile(f"{path} is a symbolic link: not opened") from e
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UntrustedFile(f"{path} is not a regular file: not opened")
        if info.st_uid != os.geteuid():
            raise UntrustedFile(f"{path} belongs to another user (uid {info.st_uid}): not opened")
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def private_folder_of_own(path: str) -> None:
    """Narrow an existing folder of jupyter_lapd's own (a database's stream folder) to
    0700; create it so if it is missing."""
    private_folder(path)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UntrustedFile(f"{path} is not a folder: not used")
    if info.st_uid != os.geteuid():
        raise UntrustedFile(f"{path} belongs to another user (uid {info.st_uid}): not used")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, FOLDER_MODE)
