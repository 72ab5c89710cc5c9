"""A killed `warmstart` leaves no process behind.

Prefect starts its ephemeral API server, and vLLM its engine core, as child processes; a `kill -9`
of warmstart gives them no chance to stop, and they live on (reparented to init). So a command that
runs engines starts a small guard process first: while warmstart lives, the guard notes its
descendants every half second (pid and start time); once warmstart is gone, however it ended, the
guard stops every noted process still alive, and their children: SIGTERM, then SIGKILL after a grace.

    guard = start_guard()          # in the `warmstart` process, before any engine starts

Linux only (it reads /proc); elsewhere start_guard does nothing.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 0.5
GRACE_S = 3.0


def start_guard() -> subprocess.Popen | None:
    """Start the guard of this process (None where /proc is missing)."""
    if not Path("/proc/self/stat").exists():
        return None
    root = Path(__file__).resolve().parents[1]
    # A session of its own: a Ctrl-C or a hang-up of the terminal stops warmstart, not its guard.
    return subprocess.Popen([sys.executable, "-m", "flows.process_guard", str(os.getpid())], cwd=root,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start time in clock ticks) for every live process (zombies left out)."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (command) "; the command may hold spaces
        if fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), int(fields[19]))
    return table


def descendants(roots: set[int], table: dict[int, tuple[int, int]]) -> dict[int, int]:
    """pid -> start time of every process below `roots` in `table`."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = {}, list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found[child] = table[child][1]
                todo.append(child)
    return found


def still_alive(noted: dict[int, int], table: dict[int, tuple[int, int]]) -> dict[int, int]:
    """The noted processes that still run (same pid, same start time: not a reused pid), and their children."""
    alive = {pid: start for pid, start in noted.items() if pid in table and table[pid][1] == start}
    return {**alive, **descendants(set(alive), table)}


def stop(noted: dict[int, int], grace_s: float = GRACE_S) -> list[int]:
    """SIGTERM the noted processes still alive, SIGKILL those left after `grace_s`; return the pids stopped."""
    found = targets = still_alive(noted, process_table())
    _signal(targets, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while targets and time.monotonic() < deadline:
        time.sleep(0.1)
        targets = still_alive(targets, process_table())
    _signal(targets, signal.SIGKILL)
    return sorted(found)


def _signal(pids: dict[int, int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def watch(parent: int, poll_s: float = POLL_S) -> None:
    """Note the parent's descendants until the parent is gone, then stop those still running."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    noted: dict[int, int] = {}
    me = os.getpid()
    while os.getppid() == parent:  # once the parent is gone, init (or a subreaper) adopts the guard
        table = process_table()
        # Keep those noted earlier that still run: orphans of a dead child are leftovers too.
        noted = {**still_alive(noted, table), **descendants({parent}, table)}
        noted.pop(me, None)
        time.sleep(poll_s)
    stop(noted)


if __name__ == "__main__":
    watch(int(sys.argv[1]))
