"""Engine output goes to a log file beside the run; warmstart's own output stays on the terminal.

vLLM, torch, Prefect, transformers and their C/C++ code write to file descriptors 1 and 2, from
this process and from child processes (vLLM's engine core, Prefect's API server); Python logging
settings reach only a part of that. So while a command runs its engines, descriptors 1 and 2 (and
sys.stdout / sys.stderr) point at `runs/<run_id>/engine.log` and children inherit that, while
warmstart's progress bars, stage lines and summary go to a duplicate of the terminal
(schemas/terminal.py). `--verbose` leaves everything on the terminal, as it was.

    with engine_output(run_id, verbose=False) as log:   # the log's path; None with verbose
        summary = run_curation(cfg, run_id=run_id)

At the end the log's path is printed, with the count of error lines the engines wrote, if any.
"""

import logging
import os
import re
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from schemas import terminal
from schemas.errors import WarmstartError

RUNS_ENV = "WARMSTART_RUNS"
LOG_NAME = "engine.log"
# What a library writes when something is really wrong (its INFO and WARNING lines are chatter).
PROBLEM = re.compile(r"\b(ERROR|CRITICAL|FATAL)\b|Traceback \(most recent call last\)|[Oo]ut of memory|"
                     r"OutOfMemoryError|Segmentation fault")
SECRET = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(?=@)|(\bpassword\s*=\s*)[^\s'\"&]+", re.I)


def runs_dir() -> Path:
    """Where run folders live: $WARMSTART_RUNS, else runs/ in the working directory."""
    return Path(os.environ.get(RUNS_ENV) or "runs")


def log_path(run_id: str) -> Path:
    """The engine log of run `run_id`."""
    return runs_dir() / run_id / LOG_NAME


@contextmanager
def engine_output(run_id: str, *, verbose: bool = False):
    """Send engine output to the run's log within the block; yield the log's path (None: verbose).

    An unexpected exception leaves its traceback in the log; passwords in URLs and connection
    strings are masked; a log left empty is removed."""
    if verbose:
        yield None
        return
    path = log_path(run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = open(path, "a", encoding="utf-8", errors="replace")
    start = os.fstat(log.fileno()).st_size
    try:
        with redirected(log.fileno()):
            yield path
    except WarmstartError:
        raise
    except BaseException:
        log.write(traceback.format_exc())
        raise
    finally:
        log.close()
        mask_secrets(path)
        if path.stat().st_size == 0:
            path.unlink()
            _remove_if_empty(path.parent)
    if path.exists() and path.stat().st_size > start:
        terminal.echo(summary_line(path, problems(path, start)), err=True)


def mask_secrets(path: Path) -> None:
    """Replace passwords in URLs (postgres://user:PASSWORD@host) and in connection strings
    (password=...) that a library wrote to the log by ***."""
    text = path.read_text(encoding="utf-8", errors="replace")
    masked = SECRET.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)
    if masked != text:
        path.write_text(masked, encoding="utf-8")


def summary_line(path: Path, found: list[str]) -> str:
    """The one line that names the log, and the engines' error lines when there were any."""
    if not found:
        return f"engine log: {path}"
    return f"engine log: {path} ({len(found)} error line(s) from the engines; first: {found[0][:160]})"


def problems(path: Path, offset: int = 0) -> list[str]:
    """The lines of the log written after `offset` that report a real problem."""
    with open(path, encoding="utf-8", errors="replace") as log:
        log.seek(offset)
        return [line.strip() for line in log if PROBLEM.search(line)]


@contextmanager
def redirected(fd: int):
    """Point descriptors 1 and 2, sys.stdout and sys.stderr at `fd`; warmstart's own output
    (schemas.terminal and the progress console) keeps the terminal."""
    from flows.progress import console

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    out, err = _terminal_twin(sys.stdout, 1), _terminal_twin(sys.stderr, 2)
    saved, streams = (os.dup(1), os.dup(2)), (sys.stdout, sys.stderr)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    # Line-buffered text streams on the redirected descriptors: Python writes interleave with C writes.
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    console.file = err
    try:
        with terminal.kept(out, err), _levels_named():
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = streams
        for target, copy in zip((1, 2), saved):
            os.dup2(copy, target)
            os.close(copy)
        console.file = None
        for twin, stream in ((out, streams[0]), (err, streams[1])):
            if twin is not stream:
                twin.close()


@contextmanager
def _levels_named():
    """Records of libraries that set up no logging of their own reach the log with their level
    (logging's last resort writes the bare message), so an ERROR is seen as one."""
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _terminal_twin(stream: TextIO, fd: int) -> TextIO:
    """A stream to the terminal that survives pointing `fd` elsewhere: a duplicate of `fd` when
    `stream` writes to it, else `stream` itself (a capture, as under pytest)."""
    try:
        writes_to_fd = stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        writes_to_fd = False
    if not writes_to_fd:
        return stream
    return open(os.dup(fd), "w", encoding=getattr(stream, "encoding", None) or "utf-8", errors="replace",
                buffering=1)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # other files live there (a checkpoint, an earlier log)
