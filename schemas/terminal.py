"""The user's terminal: where warmstart's own output (progress bars, stage lines, summaries) goes.

Normally that is sys.stdout / sys.stderr. While a command sends engine output to its log
(flows/engine_log.py points file descriptors 1 and 2, and sys.stdout / sys.stderr, at the log),
these are the streams still attached to the terminal. Every layer writes its own output here.
"""

import sys
from contextlib import contextmanager
from typing import TextIO

_kept: dict[str, TextIO] = {}


def stdout() -> TextIO:
    """The terminal's standard output."""
    return _kept.get("out", sys.stdout)


def stderr() -> TextIO:
    """The terminal's standard error (progress bars, notes, errors)."""
    return _kept.get("err", sys.stderr)


def echo(text: str = "", *, err: bool = False) -> None:
    """One line of warmstart's own output on the terminal."""
    print(text, file=stderr() if err else stdout(), flush=True)


@contextmanager
def kept(out: TextIO, err: TextIO):
    """Within the block, warmstart's own output goes to `out` / `err` whatever sys.stdout is."""
    before = dict(_kept)
    _kept.update(out=out, err=err)
    try:
        yield
    finally:
        _kept.clear()
        _kept.update(before)
