"""Locks that die with their process: a crash never leaves a lake locked, and a run whose lock is
free is a run whose process is gone.

A local lake locks files in its directory (flock). A PostgreSQL lake takes session advisory locks
in its catalog database: every host sees them, and the server drops them with the connection when
the process dies. Names: `run` is the lake's curate lock; `runs/<run_id>` is held by a live run.

    with run_lock(lake): ...                         # one curate run per lake at a time
    with lock_set(lake).hold(f"runs/{run_id}"): ...  # this run is alive
"""

import fcntl
import hashlib
import os
import socket
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from schemas.errors import LakeError
from schemas.lake import Lake, connection_error

LAKE_LOCK = "run"


def holder_name() -> str:
    """Who holds a lock, as the error of the next process shows it."""
    return f"pid {os.getpid()} on {socket.gethostname()}"


class Busy(LakeError):
    """A lock is held by another live process (`holder` names it)."""

    def __init__(self, name: str, holder: str):
        super().__init__(f"lock {name} is held by {holder}")
        self.name, self.holder = name, holder


@contextmanager
def run_lock(lake: Lake):
    """Hold the lake's run lock, or fail at once naming the process that holds it."""
    with ExitStack() as stack:
        try:
            stack.enter_context(lock_set(lake).hold(LAKE_LOCK))
        except Busy as exc:
            raise LakeError(f"another warmstart run ({exc.holder}) is writing to {lake.where.display}; "
                            "wait for it to finish or use another --lake") from None
        yield


def lock_set(lake: Lake):
    """The lake's locks: files in a local lake's directory, or advisory locks in its catalog."""
    return CatalogLocks(lake) if lake.where.is_postgres else FileLocks(lake.workdir)


class FileLocks:
    """flock'ed files `<folder>/.<name>.lock`; a released file is removed."""

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, name: str) -> Path:
        return self.folder / f".{name}.lock"

    @contextmanager
    def hold(self, name: str, *, wait_s: float = 0.0):
        """Hold lock `name` (waiting up to wait_s for it), or raise Busy naming its holder."""
        deadline = time.monotonic() + wait_s
        while (handle := self._try(name)) is None:
            if time.monotonic() >= deadline:
                raise Busy(name, self._holder(name))
            time.sleep(0.2)
        try:
            yield
        finally:
            self._release(name, handle)

    @contextmanager
    def free_among(self, names: list[str]):
        """Hold every lock of `names` that no one holds; yields the set of those names."""
        handles = {name: handle for name in names if (handle := self._try(name)) is not None}
        try:
            yield set(handles)
        finally:
            for name, handle in handles.items():
                self._release(name, handle)

    def _try(self, name: str):
        """The locked, still-linked file of `name`, or None when another process holds it."""
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(path, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return None
            try:
                if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                    break
            except FileNotFoundError:
                pass
            handle.close()  # its holder removed it while we waited: lock the new file
        handle.seek(0)
        handle.truncate()
        handle.write(holder_name())
        handle.flush()
        return handle

    def _release(self, name: str, handle) -> None:
        self.path(name).unlink(missing_ok=True)  # before unlocking: a waiter re-checks the inode
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()

    def _holder(self, name: str) -> str:
        try:
            return self.path(name).read_text().strip() or "unknown"
        except OSError:
            return "unknown"


class CatalogLocks:
    """Session advisory locks in the lake's PostgreSQL database, one connection per holding."""

    def __init__(self, lake: Lake):
        self.lake = lake

    @contextmanager
    def hold(self, name: str, *, wait_s: float = 0.0):
        """Hold lock `name` (waiting up to wait_s for it), or raise Busy naming its holder."""
        con = self._connect()
        try:
            deadline = time.monotonic() + wait_s
            while not con.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(name)]).fetchone()[0]:
                if time.monotonic() >= deadline:
                    raise Busy(name, self._holder(con, name))
                time.sleep(0.2)
            yield
        finally:
            con.close()  # the server releases the session's locks

    @contextmanager
    def free_among(self, names: list[str]):
        """Hold every lock of `names` that no one holds; yields the set of those names."""
        con = self._connect()
        try:
            yield {name for name in names
                   if con.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(name)]).fetchone()[0]}
        finally:
            con.close()

    def _connect(self):
        import psycopg

        where = self.lake.where
        try:
            return psycopg.connect(where.conninfo, autocommit=True, application_name=f"warmstart {holder_name()}")
        except psycopg.Error as exc:
            raise LakeError(connection_error(where, exc)) from None

    @staticmethod
    def _holder(con, name: str) -> str:
        key = lock_key(name)
        row = con.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 1",
            [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF]).fetchone()
        name = (row[0] or "") if row else ""
        return name.removeprefix("warmstart ") or "unknown"


def lock_key(name: str) -> int:
    """A lock name as a signed 64-bit advisory-lock key (one database is one lake)."""
    digest = hashlib.blake2b(f"warmstart:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
