"""examples/resumable-training: a real PyTorch training notebook, stopped and resumed.

The notebook checkpoints at every epoch and, told to stop (the kernel interrupted on
SIGTERM), between two steps. Resumed with ``--resume=from-failed`` it reruns its setup cells
and carries on: its metrics must be those of a run nobody stopped, bit for bit (one thread,
seeded batches), with no epoch trained twice.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, Headless, env_for, read_nb

EXAMPLE = REPO / "examples" / "resumable-training" / "train.ipynb"
# 60 epochs of ~0.2 s: long enough for ten kills in a row to land before the end
PARAMETERS = ("-p", "EPOCHS", "60", "-p", "STEPS_PER_EPOCH", "300")
SETUP = ["parameters", "injected-parameters", "data", "model"]
EPOCH_LINE = re.compile(r"^epoch (\d+) loss \d+\.\d+$")
DB = ".train.ipynb.lapd.db"


def text_of(nb: nbformat.NotebookNode, cell_id: str) -> str:
    (cell,) = [c for c in nb.cells if c.get("id") == cell_id]
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def epoch_lines(nb: nbformat.NotebookNode) -> list[str]:
    return [line for line in text_of(nb, "train").splitlines() if EPOCH_LINE.match(line)]


def trained_to(path: Path, epoch: int) -> bool:
    try:
        return any(f"epoch {epoch} loss" in line for line in epoch_lines(read_nb(path)))
    except Exception:  # not there yet (the writer replaces the file atomically: never torn)
        return False


def wait_for(predicate, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def job(tmp: Path) -> Headless:
    folder = tmp / "job"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "train.ipynb")
    return Headless(folder, env_for(tmp))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    """The notebook as a run that nobody stopped leaves it."""
    run = job(tmp_path_factory.mktemp("reference"))
    result = run("train.ipynb", "--headless", *PARAMETERS, timeout=600)
    assert result.returncode == 0, result
    nb = read_nb(run.folder / "train.ipynb")
    assert len(epoch_lines(nb)) == 60
    return nb


def check_like_reference(nb: nbformat.NotebookNode, reference: nbformat.NotebookNode) -> None:
    # every epoch once, each with the loss of the run nobody stopped
    assert text_of(nb, "metrics") == text_of(reference, "metrics")
    # the training cell shows the epochs from the checkpoint on, each once
    lines = epoch_lines(nb)
    assert lines and lines == epoch_lines(reference)[-len(lines) :], lines


def test_sigterm_at_a_random_epoch_saves_a_checkpoint_and_the_resume_carries_on(
    tmp_path, reference
):
    run = job(tmp_path)
    path = run.folder / "train.ipynb"
    at = random.randrange(1, 10)
    print(f"SIGTERM once epoch {at} is trained")
    proc = run.start("train.ipynb", "--headless", *PARAMETERS, stdout=subprocess.DEVNULL)
    wait_for(lambda: trained_to(path, at))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    stopped = re.search(
        r"interrupted in epoch (\d+) at step (\d+): checkpoint saved",
        text_of(read_nb(path), "train"),
    )
    assert stopped, text_of(read_nb(path), "train")
    epoch, step = (int(n) for n in stopped.groups())
    assert epoch > at
    result = run("train.ipynb", "--headless", "--resume=from-failed", *PARAMETERS, timeout=600)
    assert result.returncode == 0, result
    assert "no setup cells" not in result.stderr
    nb = read_nb(path)
    assert text_of(nb, "model") == f"starting at epoch {epoch}, step {step}\n"
    check_like_reference(nb, reference)
    assert epoch_lines(nb)[0].startswith(f"epoch {epoch} loss")  # nothing before trained again
    first, resumed = run.runs(DB)
    assert (first["status"], resumed["status"]) == ("interrupted", "completed")
    assert resumed["setup_cells"] == SETUP


def test_sigkill_ten_times_in_a_row_then_resume_equals_a_run_nobody_stopped(tmp_path, reference):
    run = job(tmp_path)
    path = run.folder / "train.ipynb"
    rng = random.Random(seed := random.randrange(10**6))
    print(f"seed {seed}")
    for kill in range(10):
        resume = ["--resume=from-failed"] if kill else []
        proc = run.start(
            "train.ipynb", "--headless", *resume, *PARAMETERS, stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + rng.uniform(0.5, 4.5)  # setup, training, anywhere
        while time.monotonic() < deadline:
            read_nb(path)  # valid at every look
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before its kill: make the epochs longer"
        proc.kill()
        proc.wait()
        nb = read_nb(path)
        for cell in nb.cells:  # nothing twice on disk
            lines = [
                line for o in cell.get("outputs", []) for line in o.get("text", "").splitlines()
            ]
            assert len(lines) == len(set(lines)), (kill, cell.id, lines)
    result = run("train.ipynb", "--headless", "--resume=from-failed", *PARAMETERS, timeout=600)
    assert result.returncode == 0, result
    check_like_reference(read_nb(path), reference)
    # a kill before a run is journaled leaves none; every other one was cut off
    statuses = [r["status"] for r in run.runs(DB)]
    assert statuses[-1] == "completed" and set(statuses[:-1]) <= {"interrupted"}, statuses
