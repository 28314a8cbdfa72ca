"""`jupyter lapd run --headless`: no server, a real process, real kernels, real files."""

from __future__ import annotations

import os
import pty
import random
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import CHECKPOINTED, CLI, DB, Headless, make_notebook, read_nb

from jupyter_lapd.journal.processlocks import notebook_lock
from jupyter_lapd.journal.streamfiles import folder_for


def texts(nb: Any) -> list[str]:
    """Each cell's stream text (code cells), joined."""
    return [
        "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        for cell in nb.cells
        if cell.cell_type == "code"
    ]


def wait_for(predicate: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def shows(path: Path, cell: int, text: str) -> bool:
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return False
    return text in texts(nb)[cell]


# -- runs that end by themselves ---------------------------------------------------------


def test_run_writes_outputs_beside_its_journal(lapd_headless):
    path = lapd_headless.notebook(["import os\nprint(os.getcwd())", ("markdown", "# n"), "6 * 7"])
    result = lapd_headless("nb.ipynb", "--headless")
    assert result.returncode == 0, result
    nb = read_nb(path)
    assert nb.cells[0].outputs[0]["text"] == f"{lapd_headless.folder.resolve()}\n"
    assert nb.cells[2].outputs[0]["data"]["text/plain"] == "42"
    assert nb.cells[2].execution_count == nb.cells[0].execution_count + 1
    assert "iopub.status.idle" in nb.cells[2].metadata["execution"]
    # stdout is not a terminal: one plain line per cell, then the outcome
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"\[1/2\] cell c0 done \(\d+\.\d s\)", lines[1]), lines
    assert re.fullmatch(r"\[2/2\] cell c2 done \(\d+\.\d s\)", lines[2]), lines
    assert "completed: 2/2 cells" in lines[-1] and "\r" not in result.stdout
    # the journal is a hidden file beside the notebook: a container's volume keeps it
    (run,) = lapd_headless.runs()
    assert (run["status"], run["kernel_mode"], run["path"]) == ("completed", "new", "nb.ipynb")
    assert sorted(p.name for p in lapd_headless.folder.iterdir() if p.suffix == ".db") == [DB]


def test_the_kernel_keeps_its_history_in_memory_unless_configured(lapd_headless, tmp_path):
    code = "from IPython import get_ipython\nprint(get_ipython().history_manager.hist_file)"
    path = lapd_headless.notebook([code])
    assert lapd_headless("nb.ipynb", "--headless").returncode == 0
    assert read_nb(path).cells[0].outputs[0]["text"] == ":memory:\n"
    # '' leaves IPython's own setting: the profile's history file
    config = tmp_path / "config" / "jupyter_server_config.py"
    config.write_text("c.Lapd.ipython_hist_file = ''\n")
    assert lapd_headless("nb.ipynb", "--headless").returncode == 0
    assert read_nb(path).cells[0].outputs[0]["text"].strip().endswith("history.sqlite")


def test_failing_cell_exits_1_with_the_traceback_in_the_file(lapd_headless):
    path = lapd_headless.notebook(["print('before')", "1 / 0", "print('never')"])
    result = lapd_headless("nb.ipynb", "--headless")
    assert result.returncode == 1, result
    nb = read_nb(path)
    (error,) = nb.cells[1].outputs
    assert error["ename"] == "ZeroDivisionError" and error["traceback"]
    assert nb.cells[2].outputs == [] and nb.cells[2].execution_count is None
    assert "[2/3] cell c1 error" in result.stdout
    assert "failed" in result.stdout.splitlines()[-1] and "ZeroDivisionError" in result.stdout


def test_dead_kernel_exits_138(lapd_headless):
    path = lapd_headless.notebook(["print('alive')", "import os\nos._exit(1)", "print('never')"])
    result = lapd_headless("nb.ipynb", "--headless")
    assert result.returncode == 138, result
    assert "the kernel died" in result.stderr and "138" in result.stderr
    (run,) = lapd_headless.runs()
    assert run["status"] == "failed" and run["error"] == "kernel died while running cell 2"
    assert "the kernel died while running this cell" in texts(read_nb(path))[1]


def test_retries_start_a_new_attempt_after_a_kernel_death(lapd_headless):
    dies_once = (
        "import os\nif not os.path.exists('died-once'):\n"
        "    open('died-once', 'w').close()\n    os._exit(1)\nprint('survived')"
    )
    path = lapd_headless.notebook(["print('first')", dies_once])
    result = lapd_headless("nb.ipynb", "--headless", "--retries", "1")
    assert result.returncode == 0, result
    assert "retrying, attempt 2 of 2" in result.stderr
    first, second = lapd_headless.runs()
    assert (first["status"], second["status"]) == ("failed", "completed")
    assert second["resumed_from"] == first["id"]
    assert [c["id"] for c in second["cells"]] == ["c0", "c1"]  # from the start
    assert texts(read_nb(path)) == ["first\n", "survived\n"]


def test_parameters_are_injected_after_the_parameters_cell(lapd_headless):
    defaults = "alpha = 1\nname = 'x'\nflag = False\nnothing = 'default'"
    show = "print(repr(alpha), repr(name), repr(flag), repr(nothing))"
    nb = make_notebook([defaults, show])
    nb.cells[0].metadata["tags"] = ["parameters"]
    path = lapd_headless.folder / "nb.ipynb"
    nbformat.write(nb, path)
    params = ["-p", "alpha", "0.5", "-p", "name", "world", "-p", "flag", "True"]
    result = lapd_headless("nb.ipynb", "--headless", *params, "-p", "nothing", "None")
    assert result.returncode == 0, result
    nb = read_nb(path)
    injected = nb.cells[1]
    assert injected.metadata["tags"] == ["injected-parameters"]
    assert (
        injected.source
        == "# Parameters\nalpha = 0.5\nname = 'world'\nflag = True\nnothing = None\n"
    )
    assert texts(nb)[2] == "0.5 'world' True None\n"
    # a second injection replaces the first; a quoted number stays a string
    result = lapd_headless("nb.ipynb", "--headless", "-p", "name", "'3'")
    assert result.returncode == 0, result
    nb = read_nb(path)
    assert [c.metadata.get("tags") for c in nb.cells] == [
        ["parameters"],
        ["injected-parameters"],
        None,
    ]
    assert texts(nb)[2] == "1 '3' False 'default'\n"


def test_output_runs_a_copy_and_leaves_the_input_untouched(lapd_headless):
    source = lapd_headless.notebook(["print(greeting)"])
    before = source.read_bytes()
    (lapd_headless.folder / "out").mkdir()
    result = lapd_headless(
        "nb.ipynb", "--headless", "--output", "out/result.ipynb", "-p", "greeting", "hello"
    )
    assert result.returncode == 0, result
    assert source.read_bytes() == before
    assert "no cell tagged 'parameters'" in result.stderr
    out = read_nb(lapd_headless.folder / "out" / "result.ipynb")
    assert out.cells[0].metadata["tags"] == ["injected-parameters"]  # at the top
    assert texts(out) == ["", "hello\n"]
    assert (lapd_headless.folder / "out" / ".result.ipynb.lapd.db").exists()
    assert not (lapd_headless.folder / DB).exists()


def test_cells_runs_only_those(lapd_headless):
    path = lapd_headless.notebook(["print('a')", "print('b')", "print('c')"])
    result = lapd_headless("nb.ipynb", "--headless", "--cells", "c2,c0")
    assert result.returncode == 0, result
    assert texts(read_nb(path)) == ["a\n", "", "c\n"]
    assert "[2/2] cell c2 done" in result.stdout


def test_timeout_fails_the_cell(lapd_headless):
    lapd_headless.notebook(["import time\ntime.sleep(60)", "print('never')"])
    result = lapd_headless("nb.ipynb", "--headless", "--timeout", "1")
    assert result.returncode == 1, result
    (run,) = lapd_headless.runs()
    assert "timed out" in run["error"] and run["status"] == "failed"


def test_progress_bar_on_a_terminal(lapd_headless):
    lapd_headless.notebook(["import time\ntime.sleep(1.5)", "print('b')"])
    leader, follower = pty.openpty()
    proc = lapd_headless.start("nb.ipynb", "--headless", stdout=follower, stderr=subprocess.DEVNULL)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes with the process
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    text = shown.decode()
    assert "\r\x1b[K" in text  # redrawn in place
    assert re.search(r"0/2 \S+ cell c0", text), text
    assert "completed: 2/2 cells" in text and "[1/2] cell" not in text


# -- bad input ------------------------------------------------------------------------


def test_usage_errors_exit_2_and_change_nothing(lapd_headless):
    lapd_headless.notebook(["x = 1"])
    (lapd_headless.folder / "notes.txt").write_text("not a notebook")
    (lapd_headless.folder / "broken.ipynb").write_text("{")
    cases = [
        (("missing.ipynb",), "No such notebook: missing.ipynb"),
        (("notes.txt",), "is not a notebook"),
        (("broken.ipynb",), "not valid notebook JSON"),
        (("nb.ipynb", "--resume=sideways"), "--resume must be from-start or from-failed"),
        (("nb.ipynb", "--retries=-1"), "--retries must be 0 or more"),
        (("nb.ipynb", "--retries", "many"), "expected an int"),
        (("nb.ipynb", "--timeout", "0"), "--timeout must be a positive number of seconds"),
        (("nb.ipynb", "--cells", "c0,nope"), "Unknown cell id(s): nope"),
        (("nb.ipynb", "--kernel-name", "nope"), "No such kernel: nope"),
        (("nb.ipynb", "--kernel", "session"), "--kernel session needs a server"),
        (("nb.ipynb", "--output", "out.txt"), "must be a .ipynb file"),
        (("nb.ipynb", "--output", "no/such/out.ipynb"), "no such folder"),
        (("nb.ipynb", "-p", "alpha"), "-p needs a NAME and a VALUE"),
        (("nb.ipynb", "-p", "1x", "2"), "'1x' is not a Python identifier"),
        (("nb.ipynb", "--bogus"), "unknown option --bogus"),
        (("nb.ipynb", "--setup-cells", "c0"), "--setup-cells needs --resume=from-failed"),
        (
            ("nb.ipynb", "--resume=from-failed", "--setup-cells", "c0,nope"),
            "--setup-cells: Unknown cell id(s): nope",
        ),
        (("nb.ipynb", "--on-sigterm", "ignore"), "--on-sigterm must be interrupt or stop"),
        (("nb.ipynb", "--grace", "0"), "--grace must be a positive number of seconds"),
        (("nb.ipynb", "--Lapd.flush_interval=0"), "Lapd.flush_interval must be > 0 seconds"),
    ]
    cases = [((args[0], "--headless", *args[1:]), message) for args, message in cases]
    cases += [
        (("nb.ipynb", "--resume"), "--resume needs --headless"),
        (("nb.ipynb", "-p", "a", "1"), "-p needs --headless"),
        (("nb.ipynb", "--output", "o.ipynb"), "--output needs --headless"),
        (("nb.ipynb", "--grace", "5"), "--grace needs --headless"),
    ]
    before = {p.name: p.read_bytes() for p in lapd_headless.folder.iterdir()}
    with ThreadPoolExecutor(max_workers=3) as pool:  # no kernel starts: only startup costs
        results = list(pool.map(lambda case: lapd_headless(*case[0]), cases))
    for (args, message), result in zip(cases, results, strict=True):
        assert result.returncode == 2, (args, result)
        assert message in result.stderr and "Traceback" not in result.stderr, (args, result)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
    assert {p.name: p.read_bytes() for p in lapd_headless.folder.iterdir()} == before


def test_a_live_run_is_not_run_twice(lapd_headless):
    path = lapd_headless.notebook(["print('busy', flush=True)\nimport time\ntime.sleep(60)"])
    first = lapd_headless.start("nb.ipynb", "--headless", stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: shows(path, 0, "busy"))
        for args in (("--headless",), ("--headless", "--resume")):
            second = lapd_headless("nb.ipynb", *args)
            assert second.returncode == 2, second
            assert f"nb.ipynb is being run by process {first.pid}" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 143


@pytest.mark.fault
def test_a_notebook_another_process_holds_is_not_run_even_before_its_run_is_journaled(
    lapd_headless,
):
    # the moment two processes started together race for: the other holds the notebook
    # and has not recorded its run yet
    path = lapd_headless.notebook(["print('ran')"])
    before = path.read_bytes()
    lock = notebook_lock(folder_for(str(lapd_headless.folder / DB)), str(path))
    assert lock.acquire() is None
    try:
        result = lapd_headless("nb.ipynb", "--headless")
    finally:
        lock.release()
    assert result.returncode == 2, result
    assert f"nb.ipynb is being run by process {os.getpid()} on " in result.stderr
    assert path.read_bytes() == before


# -- signals, kills, resume -------------------------------------------------------------

GATED = (
    "import os, time\nprint('three', flush=True)\n"
    "while not os.path.exists('go'):\n    time.sleep(0.1)\nprint('released')"
)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_writes_the_file_and_marks_the_run_interrupted(lapd_headless, signum, code):
    path = lapd_headless.notebook(["print('one')", "x = 2\nprint('two')", GATED, "print('four')"])
    proc = lapd_headless.start("nb.ipynb", "--headless", stdout=subprocess.DEVNULL)
    wait_for(lambda: shows(path, 2, "three"))
    proc.send_signal(signum)
    assert proc.wait(timeout=60) == code
    nb = read_nb(path)
    assert texts(nb)[:2] == ["one\n", "two\n"]
    assert texts(nb)[2].startswith("three\n")
    assert f"run interrupted: stopped by {signum.name}" in texts(nb)[2]
    (run,) = lapd_headless.runs()
    assert run["status"] == "interrupted"
    # the cell that was running did not finish; the next one never started
    statuses = [c["status"] for c in run["cells"]]
    assert (statuses[:2], statuses[3]) == (["done", "done"], "skipped")
    assert statuses[2] != "done"


def test_resume_from_failed_keeps_the_cells_that_finished(lapd_headless):
    path = lapd_headless.notebook(["print('one')", "x = 2\nprint('two')", GATED, "print('four')"])
    proc = lapd_headless.start("nb.ipynb", "--headless", stdout=subprocess.DEVNULL)
    wait_for(lambda: shows(path, 2, "three"))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    counts = [c.execution_count for c in read_nb(path).cells[:2]]
    (lapd_headless.folder / "go").touch()
    result = lapd_headless("nb.ipynb", "--headless", "--resume=from-failed")
    assert result.returncode == 0, result
    nb = read_nb(path)
    assert texts(nb) == ["one\n", "two\n", "three\nreleased\n", "four\n"]
    assert [c.execution_count for c in nb.cells[:2]] == counts  # not run again
    first, second = lapd_headless.runs()
    assert second["resumed_from"] == first["id"] and second["status"] == "completed"
    assert [c["id"] for c in second["cells"]] == ["c2", "c3"]


# code that swallows every interrupt: only the grace ends it
STUBBORN = (
    "import time\nprint('stubborn', flush=True)\nwhile True:\n    try:\n"
    "        time.sleep(0.05)\n    except KeyboardInterrupt:\n        print('ignored')"
)


@pytest.mark.parametrize("mode", ["interrupt", "stop"])
def test_sigterm_interrupts_the_kernel_so_the_cell_can_save_a_checkpoint(lapd_headless, mode):
    path = lapd_headless.notebook(["print('one')", CHECKPOINTED, "print('never')"])
    args = ["--on-sigterm", mode] if mode == "stop" else []  # interrupt: the default
    proc = lapd_headless.start("nb.ipynb", "--headless", *args, stdout=subprocess.DEVNULL)
    wait_for(lambda: shows(path, 1, "training"))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    nb = read_nb(path)
    saved = "checkpoint saved" in texts(nb)[1]
    assert saved == (mode == "interrupt"), texts(nb)
    errors = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert [e.ename for e in errors] == (["KeyboardInterrupt"] if saved else [])
    # the note comes last, after what the interrupted code printed
    assert nb.cells[1].outputs[-1].text.startswith("jupyter_lapd: run interrupted: stopped by")
    (run,) = lapd_headless.runs()
    assert run["status"] == "interrupted" and run["error"] == "stopped by SIGTERM"
    assert [c["status"] for c in run["cells"]] == ["done", "error", "skipped"]


def test_sigterm_stops_code_that_ignores_the_interrupt_within_the_grace(lapd_headless):
    path = lapd_headless.notebook([STUBBORN, "print('never')"])
    proc = lapd_headless.start("nb.ipynb", "--headless", "--grace", "3", stdout=subprocess.DEVNULL)
    wait_for(lambda: shows(path, 0, "stubborn"))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143  # without the grace it would run forever
    assert "ignored" in texts(read_nb(path))[0]
    (run,) = lapd_headless.runs()
    assert run["status"] == "interrupted"


SETUP = "data = [1, 2, 3]\nprint('loaded')"
USES_DATA = (
    "import os, time\nprint('three', sum(data), flush=True)\n"
    "while not os.path.exists('go'):\n    time.sleep(0.1)\nprint('released')"
)


def killed_mid_run(lapd_headless: Headless, tags: list[str]) -> Path:
    """A notebook whose setup cell loads data that the cell the kill cuts off uses."""
    path = lapd_headless.notebook([SETUP, "print('one')", USES_DATA, "print(len(data))"])
    nb = read_nb(path)
    nb.cells[0].metadata["tags"] = tags
    nbformat.write(nb, path)
    proc = lapd_headless.start("nb.ipynb", "--headless", stdout=subprocess.DEVNULL)
    wait_for(lambda: shows(path, 2, "three 6"))
    proc.kill()  # no notice at all
    proc.wait()
    (lapd_headless.folder / "go").touch()
    return path


@pytest.mark.parametrize("how", ["tag", "option"])
def test_resume_from_failed_reruns_the_setup_cells_first(lapd_headless, how):
    path = killed_mid_run(lapd_headless, ["setup"] if how == "tag" else [])
    count = read_nb(path).cells[1].execution_count
    given = ["--setup-cells", "c0"] if how == "option" else []
    result = lapd_headless("nb.ipynb", "--headless", "--resume=from-failed", *given)
    assert result.returncode == 0, result
    assert "no setup cells" not in result.stderr
    nb = read_nb(path)
    assert texts(nb) == ["loaded\n", "one\n", "three 6\nreleased\n", "3\n"]
    assert nb.cells[1].execution_count == count  # kept, not run again
    assert [c.execution_count for c in (nb.cells[0], nb.cells[2], nb.cells[3])] == [1, 2, 3]
    first, second = lapd_headless.runs()
    assert second["resumed_from"] == first["id"] and second["status"] == "completed"
    assert [c["id"] for c in second["cells"]] == ["c0", "c2", "c3"]
    assert second["setup_cells"] == ["c0"] and first["setup_cells"] == []
    shown = subprocess.run(
        [*CLI[:-1], "show", second["id"], f"--Lapd.db_path={DB}"],
        cwd=lapd_headless.folder, env=lapd_headless.env, capture_output=True, text=True,
    )  # fmt: skip
    assert "setup     reran c0" in shown.stdout, shown


def test_resume_from_failed_without_setup_cells_names_the_cells_to_tag(lapd_headless):
    path = killed_mid_run(lapd_headless, [])
    result = lapd_headless("nb.ipynb", "--headless", "--resume=from-failed")
    assert result.returncode == 1, result  # as before: the resumed cell lacks `data`
    assert (
        "resuming at cell c2 with no setup cells, but cells c0 define names the resumed cells "
        "use: tag them 'setup' or pass --setup-cells c0"
    ) in result.stderr
    assert "NameError" in str(read_nb(path).cells[2].outputs)


def test_resume_with_nothing_to_resume_starts_a_new_run(lapd_headless):
    path = lapd_headless.notebook(["print('fresh')"])
    result = lapd_headless("nb.ipynb", "--headless", "--resume")
    assert result.returncode == 0, result
    assert "nothing to resume: nb.ipynb has no earlier run" in result.stderr
    assert texts(read_nb(path)) == ["fresh\n"]
    again = lapd_headless("nb.ipynb", "--headless", "--resume")
    assert "nothing to resume: the latest run of nb.ipynb" in again.stderr
    assert [r["resumed_from"] for r in lapd_headless.runs()] == [None, None]


# -- kill -9 at random moments ------------------------------------------------------------

TICKS = (
    "import time\nfor i in range({n}):\n"
    "    print(f'{name} {{i}} at {{time.time():.3f}}', flush=True)\n    time.sleep(0.1)"
)
STAMPED = re.compile(r"^(\w \d+) at (\d+\.\d+)$")
# outputs reach the file within flush_interval (1 s); the rest is scheduling slack
DURABLE_AFTER = 1.5


def ticking_notebook() -> nbformat.NotebookNode:
    cells = ["print('start')", TICKS.format(n=30, name="a"), TICKS.format(n=20, name="b")]
    return make_notebook([*cells, "print('end')"])


def stamped_lines(text: str) -> Iterator[tuple[str, float]]:
    for line in text.splitlines():
        match = STAMPED.match(line)
        if match:
            yield line, float(match.group(2))


def journaled_lines(lapd_headless: Headless, since: float) -> list[tuple[str, float]]:
    """Lines the kernel printed from ``since`` on, as the journal holds them."""
    if not (lapd_headless.folder / DB).exists():
        return []
    found = []
    for run in lapd_headless.runs():
        for event in lapd_headless.events(run["id"]):
            output = event.get("output") or {}
            if event["type"] == "output" and output.get("output_type") == "stream":
                found += [(line, t) for line, t in stamped_lines(output["text"]) if t >= since]
    return found


def normalized(nb: nbformat.NotebookNode) -> list[list[tuple[str, str]]]:
    """Outputs without timestamps, execution counts or timings."""
    return [
        [
            (o.output_type, re.sub(r" at \d+\.\d+$", "", o.get("text", ""), flags=re.MULTILINE))
            for o in cell.outputs
        ]
        for cell in nb.cells
    ]


def kill_and_resume(lapd_headless: Headless, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    print(f"seed {seed}")
    reference = lapd_headless.folder / "reference"
    reference.mkdir()
    nbformat.write(ticking_notebook(), reference / "nb.ipynb")
    assert Headless(reference, lapd_headless.env)("nb.ipynb", "--headless").returncode == 0
    path = lapd_headless.folder / "nb.ipynb"
    nbformat.write(ticking_notebook(), path)
    checked = 0
    for attempt in range(kills):
        resume = ["--resume"] if attempt else []
        launched = time.time()
        proc = lapd_headless.start("nb.ipynb", "--headless", *resume, stdout=subprocess.DEVNULL)
        if attempt % 2 == 0:  # mid-output, else anywhere (startup, resume, replay included)
            wait_for(lambda since=launched: bool(journaled_lines(lapd_headless, since)))
            time.sleep(rng.uniform(2.0, 4.5))
        else:
            time.sleep(rng.uniform(0.5, 6.5))
        killed = time.time()
        proc.kill()
        proc.wait()
        nb = read_nb(path)  # never truncated, always valid
        on_disk = {line for cell in texts(nb) for line, _ in stamped_lines(cell)}
        old = [
            line
            for line, t in journaled_lines(lapd_headless, launched)
            if t < killed - DURABLE_AFTER
        ]
        missing = [line for line in old if line not in on_disk]
        assert not missing, (attempt, killed, missing)
        checked += len(old)
    print(f"{checked} lines printed more than {DURABLE_AFTER} s before a kill, all on disk")
    result = lapd_headless("nb.ipynb", "--headless", "--resume")
    assert result.returncode == 0, result
    assert normalized(read_nb(path)) == normalized(read_nb(reference / "nb.ipynb"))
    runs = lapd_headless.runs()
    assert runs[-1]["status"] == "completed"
    assert {r["status"] for r in runs[:-1]} <= {"interrupted"}, runs


@pytest.mark.fault
def test_kill_9_at_random_moments_then_resume(lapd_headless):
    kill_and_resume(lapd_headless, kills=2, seed=random.randrange(10**6))


@pytest.mark.slow
def test_kill_9_many_times_then_resume(lapd_headless):
    kill_and_resume(lapd_headless, kills=8, seed=random.randrange(10**6))


def test_a_killed_run_is_marked_interrupted_by_the_next_one(lapd_headless):
    path = lapd_headless.notebook(["print('busy', flush=True)\nimport time\ntime.sleep(60)"])
    proc = lapd_headless.start("nb.ipynb", "--headless", stdout=subprocess.DEVNULL)
    wait_for(lambda: shows(path, 0, "busy"))
    proc.kill()
    proc.wait()
    (run,) = lapd_headless.runs()
    assert run["status"] == "running"  # a killed process cannot say otherwise
    lapd_headless.notebook(["print('next')"])
    result = lapd_headless("nb.ipynb", "--headless")
    assert result.returncode == 0, result
    assert f"run {run['id'][:8]} of nb.ipynb was cut off" in result.stderr
    killed, after = lapd_headless.runs()
    assert killed["status"] == "interrupted" and f"process {proc.pid}" in killed["error"]
    assert after["resumed_from"] is None and texts(read_nb(path)) == ["next\n"]
    assert killed["cells"][0]["status"] == "skipped"


def test_the_kernel_speaks_over_private_unix_sockets_not_tcp(lapd_headless):
    lapd_headless.notebook(["import os\nprint(os.getcwd())"])
    done = lapd_headless("nb.ipynb", "--headless")
    assert done.returncode == 0, done.stderr
    assert "without encryption" not in done.stderr  # the kernel's warning for TCP
    # nothing of the kernel's connection is left in the notebook's folder
    # (the journal, its folder, which holds the notebook's lock, and the notebook)
    names = sorted(p.name for p in lapd_headless.folder.iterdir())
    assert names == [DB, f"{DB}-streams", "nb.ipynb"]


@pytest.mark.fault
def test_a_planted_journal_beside_the_notebook_is_refused_and_nothing_runs(lapd_headless):
    path = lapd_headless.notebook(["print(1)"])
    before = path.read_bytes()
    secret = lapd_headless.folder.parent / "secret"
    secret.write_text("not yours")
    (lapd_headless.folder / ".nb.ipynb.lapd.db").symlink_to(secret)
    result = lapd_headless("nb.ipynb", "--headless")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"jupyter lapd: {lapd_headless.folder / '.nb.ipynb.lapd.db'} is a symbolic link: not opened"
    )
    assert path.read_bytes() == before
    assert secret.read_text() == "not yours"
