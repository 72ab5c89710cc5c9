"""Orchestration overhead: warmstart's Prefect curate flow vs the same steps called directly.

Prints one JSON line. Both paths run configs/demo.yaml's sources, stages and lake commits on the
same prompts, each on a fresh lake, with a fake instant backend (canned answers, right for half
the samples) so the numbers measure orchestration, not generation. The direct path runs the
flow's body with every Prefect task replaced by its plain function. Medians of REPEATS
interleaved runs; the ephemeral Prefect API's start (paid once per process) is reported apart.
Also: milliseconds per Prefect task call, from a flow of trivial tasks vs a plain loop.

    python benchmarks/orchestration.py [KEY=VALUE ...]     # optional config overrides
"""

import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.backends.base import Completion, GenerationBackend  # noqa: E402

REPEATS, TRIVIAL_TASKS, GOAL = 3, 200, 0.10
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


class CannedBackend(GenerationBackend):
    """Answers instantly: the gold answer for even sample indices, a wrong one for odd ones."""

    model_name = "canned"

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        out = []
        for conv in conversations:
            gold = self.answers.get(conv[-1]["content"], "0")
            out.append([Completion(f"Let me add it up step by step. Answer: {gold if j % 2 == 0 else gold + '1'}",
                                   14, "stop", 0.3 if want_entropy else None) for j in range(n)])
        if progress:
            progress(len(conversations))
        return out


@contextmanager
def plain_tasks():
    """Every Prefect task call runs its function directly: no task run, no API call."""
    from prefect.tasks import Task

    original = Task.__call__
    Task.__call__ = lambda self, *args, **kwargs: self.fn(*args, **kwargs)
    try:
        yield
    finally:
        Task.__call__ = original


@contextmanager
def counted_tasks(counter: list):
    """Count Prefect task calls (for tasks per run)."""
    from prefect.tasks import Task

    original = Task.__call__

    def call(self, *args, **kwargs):
        counter.append(self.name)
        return original(self, *args, **kwargs)

    Task.__call__ = call
    try:
        yield
    finally:
        Task.__call__ = original


def one_run(cfg, prompts, backend, eval_sets, direct: bool, counter: list | None = None) -> float:
    """Seconds of one curate run on a fresh lake, as a flow or with plain steps."""
    from flows import curate

    with tempfile.TemporaryDirectory() as tmp:
        run_cfg = cfg.model_copy(update={"lake": str(Path(tmp) / "lake")})
        args = (run_cfg, prompts, backend, "bench", eval_sets)
        start = time.perf_counter()
        if direct:
            with plain_tasks():
                curate.curate_flow.fn(*args)
        else:
            with counted_tasks(counter if counter is not None else []), curate.flow_settings():
                curate.curate_flow(*args)
        return time.perf_counter() - start


def ms_per_task() -> float:
    """Milliseconds a Prefect task call adds over a plain call, inside a running flow."""
    from prefect import flow, task

    @task
    def add_one(x: int) -> int:
        return x + 1

    @flow
    def many_tasks():
        return [add_one(i) for i in range(TRIVIAL_TASKS)]

    from flows.curate import flow_settings

    with flow_settings():  # as warmstart runs flows: no heartbeat thread to stop at the end
        many_tasks()  # warm: the first run pays imports and flow registration
        start = time.perf_counter()
        many_tasks()
        with_tasks = time.perf_counter() - start
    start = time.perf_counter()
    [add_one.fn(i) for i in range(TRIVIAL_TASKS)]
    plain = time.perf_counter() - start
    return (with_tasks - plain) / TRIVIAL_TASKS * 1000


def main() -> None:
    from prefect import flow

    from flows.config import load_config
    from flows.eval_sets import load_eval_sets
    from flows.sources import load_prompts

    overrides = sys.argv[1:]  # KEY=VALUE config overrides, as `warmstart run --set`
    cfg = load_config(CONFIG, overrides)
    prompts = load_prompts(cfg.sources)
    eval_sets = load_eval_sets(cfg.decontam.sources) if cfg.decontam is not None else None
    answers = {cfg.prompt_format.user_text(p): a for p, a in
               zip(prompts.column("prompt").to_pylist(), prompts.column("answer").to_pylist())}
    backend = CannedBackend(answers)

    @flow(name="warm-up")
    def warm_up() -> None:
        pass

    start = time.perf_counter()
    warm_up()  # starts the ephemeral Prefect API once
    startup = time.perf_counter() - start
    one_run(cfg, prompts, backend, eval_sets, direct=True)  # warm caches (imports, eval sets, models)
    tasks: list = []
    times = {"flow": [], "direct": []}
    for repeat in range(REPEATS):
        order = [False, True] if repeat % 2 == 0 else [True, False]
        for direct in order:
            counter = tasks if repeat == 0 and not direct else None
            times["direct" if direct else "flow"].append(one_run(cfg, prompts, backend, eval_sets, direct, counter))
    flow_s, direct_s = statistics.median(times["flow"]), statistics.median(times["direct"])
    overhead = flow_s / direct_s - 1
    print(json.dumps({
        "benchmark": "orchestration", "backend": "canned (instant fake answers; measures orchestration)",
        "config": "configs/demo.yaml", "overrides": overrides, "prompts": prompts.num_rows, "k": cfg.sampling.k,
        "flow_s": round(flow_s, 3), "direct_s": round(direct_s, 3), "overhead_ratio": round(overhead, 4),
        "goal_overhead_max": GOAL, "meets_goal": overhead <= GOAL, "prefect_tasks_per_run": len(tasks),
        "ms_per_prefect_task": round(ms_per_task(), 2), "ephemeral_api_startup_s": round(startup, 2),
        "repeats": REPEATS, "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
