"""The process guard: when warmstart ends, even by kill -9, its child processes end too."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.process_guard import descendants, process_table, stop

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
REPO_ROOT = Path(__file__).resolve().parents[2]


def alive(pids) -> set[int]:
    """The pids still running (zombies count as ended)."""
    return set(pids) & set(process_table())


def wait_until_ended(pids, timeout_s: float = 15.0) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive(pids)


def test_stop_ends_a_process_tree_and_nothing_else():
    tree = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60 & wait"])
    other = subprocess.Popen(["sleep", "60"])
    try:
        time.sleep(0.5)
        table = process_table()
        noted = {tree.pid: table[tree.pid][1], **descendants({tree.pid}, table)}
        assert len(noted) == 3
        stopped = stop(noted, grace_s=2.0)
        tree.wait(timeout=5)
        assert sorted(noted) == stopped and wait_until_ended(noted) == set()
        assert other.poll() is None
    finally:
        other.kill()
        tree.kill()


def test_a_reused_pid_is_left_alone():
    other = subprocess.Popen(["sleep", "60"])
    try:
        start = process_table()[other.pid][1]
        assert stop({other.pid: start + 1}, grace_s=0.5) == []  # same pid, another start time
        assert other.poll() is None
    finally:
        other.kill()


PARENT = """
import subprocess, sys, time
from flows.process_guard import start_guard
guard = start_guard()
child = subprocess.Popen(["sleep", "300"])
shell = subprocess.Popen(["sh", "-c", "sleep 300 & wait"])
print(guard.pid, child.pid, shell.pid, flush=True)
time.sleep(300)
"""


def test_the_guard_ends_the_children_of_a_parent_killed_with_sigkill():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    guard, child, shell = map(int, parent.stdout.readline().split())
    time.sleep(1.5)  # the guard notes the parent's descendants every half second
    table = process_table()
    family = {child, shell, *descendants({shell}, table)}
    assert len(family) == 3 and guard in table
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert wait_until_ended(family | {guard}) == set()


def test_a_parent_that_ends_normally_leaves_no_child_either():
    script = PARENT.replace("time.sleep(300)", "time.sleep(1.5)")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    guard, child, shell = map(int, parent.stdout.readline().split())
    assert parent.wait(timeout=60) == 0
    assert wait_until_ended({guard, child, shell}) == set()


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow
def test_kill_9_of_warmstart_run_leaves_no_process_behind(tiny_model_dir, tmp_path):
    """`warmstart run` starts Prefect's ephemeral API server as a child; without the guard it outlives a kill -9."""
    import yaml

    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "lake": str(tmp_path / "lake"), "model": str(tiny_model_dir), "backend": "transformers",
        "sources": [{"type": "reasoning_gym", "task": "chain_sum", "count": 40, "seed": 1}],
        "sampling": {"k": 4, "max_tokens": 48, "seed": 0}}))
    with open(tmp_path / "out.txt", "w") as out:
        run = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", str(config)], cwd=REPO_ROOT, stdout=out,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not any("uvicorn" in command_line(pid) for pid in descendants({run.pid}, process_table())):
        assert run.poll() is None, (tmp_path / "out.txt").read_text()
        assert time.monotonic() < deadline, "no Prefect API server started"
        time.sleep(0.2)
    time.sleep(1.5)  # the guard notes the run's descendants every half second
    family = descendants({run.pid}, process_table())
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert len(family) >= 2  # the guard and the server, at least
    assert wait_until_ended(family) == set(), [command_line(pid) for pid in alive(family)]
