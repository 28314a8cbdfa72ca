"""Whether the process that owns a headless run is still alive."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time

import pytest

from jupyter_lapd.journal import runowners as owners


def test_an_owner_is_alive_while_its_process_is():
    me = owners.this_process()
    assert owners.is_alive(me) and not owners.is_alive(None)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    assert not owners.is_alive(dataclasses.replace(me, pid=int(gone.stdout)))


def test_a_reused_pid_is_not_the_owner():
    """A restarted container's pid 1 is another process: another start time."""
    me = owners.this_process()
    assert me.process_start  # Linux: from /proc
    assert not owners.is_alive(dataclasses.replace(me, process_start="1"))
    assert not owners.is_alive(dataclasses.replace(me, boot_id="an earlier boot", heartbeat=0))


def test_an_owner_on_another_machine_lives_by_its_heartbeat():
    far = dataclasses.replace(owners.this_process(), hostname="elsewhere", heartbeat=time.time())
    assert owners.is_alive(far) and not owners.same_machine(far)
    assert not owners.is_alive(far, now=far.heartbeat + owners.STALE_AFTER + 1)


@pytest.mark.fault
def test_a_heartbeat_from_the_future_is_no_sign_of_life():
    # a planted (or badly clocked) owner must not keep the notebook busy for ever
    now = time.time()
    far = dataclasses.replace(owners.this_process(), hostname="elsewhere", heartbeat=now + 3600)
    assert not owners.is_alive(far, now=now)
    skewed = dataclasses.replace(far, heartbeat=now + owners.STALE_AFTER / 2)
    assert owners.is_alive(skewed, now=now)
