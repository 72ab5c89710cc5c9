"""One curation run per lake at a time: an OS file lock that dies with its process."""

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from schemas.errors import LakeError


@contextmanager
def run_lock(lake_dir: Path):
    """Hold the lake's run lock, or fail at once naming the process that holds it."""
    lake_dir.mkdir(parents=True, exist_ok=True)
    path = lake_dir / ".run.lock"
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise LakeError(f"another warmstart run (pid {holder}) is writing to {lake_dir}; "
                        "wait for it to finish or use another --lake") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
