"""What every side-by-side benchmark records about its peers: installed versions, the machine's load,
and medians of interleaved repeats (each repeat alternates the order, so load drifts hit every side).
"""

import importlib.metadata
import os
from collections.abc import Callable


def versions(*distributions: str) -> dict[str, str | None]:
    """Installed version of each distribution (None when it is not installed)."""
    found = {}
    for name in distributions:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def load_average() -> float:
    """One-minute load average: other work on the machine skews every absolute rate."""
    return round(os.getloadavg()[0], 1)


def interleaved(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, list]:
    """Every run's results over `repeats` rounds, in forward order on even rounds and reversed on odd."""
    results = {name: [] for name in runs}
    for repeat in range(repeats):
        for name in (list(runs) if repeat % 2 == 0 else list(reversed(runs))):
            results[name].append(runs[name]())
    return results
