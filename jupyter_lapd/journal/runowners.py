"""Which process drives a headless run, and whether it is still alive.

A process killed with SIGKILL (or with its container, or its VM) cannot mark its run
interrupted, so its record says ``running`` forever; the next process to look must tell a
dead owner from a live one. A pid alone cannot: a restarted container reuses pid 1 (or any
low pid) in a new pid namespace on the same host name. So the owner is identified by host
name, boot id and the pid's start time, and beats a heartbeat for observers on other
machines, which cannot see its process at all.
"""

from __future__ import annotations

import os
import socket
import time

from .store import RunOwner

HEARTBEAT = 5.0  # seconds between an owner's signs of life
STALE_AFTER = 30.0  # an owner on another machine silent this long is taken as gone


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def boot_id() -> str:
    """The kernel's id for this boot (Linux), '' elsewhere: same host name and boot id
    mean the same running machine, where pids can be checked."""
    return _read("/proc/sys/kernel/random/boot_id").strip()


def process_start(pid: int) -> str:
    """When ``pid`` started, in clock ticks since boot (Linux), '' when unknown: a reused
    pid has another start time."""
    stat = _read(f"/proc/{pid}/stat")
    # the command name (field 2) is in parentheses and may contain spaces
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def this_process() -> RunOwner:
    pid = os.getpid()
    return RunOwner(socket.gethostname(), pid, boot_id(), process_start(pid), time.time())


def same_machine(owner: RunOwner) -> bool:
    return owner.hostname == socket.gethostname() and owner.boot_id == boot_id()


def is_alive(owner: RunOwner | None, now: float | None = None) -> bool:
    """Whether the process that owns a run may still be driving it.

    On this machine the answer is exact; for an owner elsewhere it is its heartbeat, so a
    process killed there is taken as gone only ``STALE_AFTER`` seconds after its last beat
    (and one whose last beat is dated more than that ahead of this clock, as gone now).
    """
    if owner is None:
        return False
    if same_machine(owner):
        if not pid_exists(owner.pid):
            return False
        return not owner.process_start or process_start(owner.pid) == owner.process_start
    # a heartbeat from the future (beyond clocks that disagree by up to STALE_AFTER) is
    # no sign of life: it would keep the notebook busy for ever
    silent = (time.time() if now is None else now) - owner.heartbeat
    return -STALE_AFTER < silent < STALE_AFTER


def describe(owner: RunOwner) -> str:
    return f"process {owner.pid} on {owner.hostname}"
