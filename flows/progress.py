"""Progress bars for long stages: counts, rate and ETA, quiet when output is not a terminal.

`console` is warmstart's own output: while engine output goes to a log (flows/engine_log.py) it
still writes to the terminal."""

from contextlib import contextmanager

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

console = Console(stderr=True)


@contextmanager
def stage_bar(description: str, total: int):
    """Yield `advance(n)` for a bar of `total` steps labelled with the stage name."""
    columns = [TextColumn("[bold]{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    # No redirect of sys.stdout/sys.stderr through the bar: what libraries print belongs in the engine log.
    with Progress(*columns, console=console, transient=False, redirect_stdout=False,
                  redirect_stderr=False) as progress:
        task = progress.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            progress.advance(task, n)

        yield advance
        progress.update(task, completed=total)
