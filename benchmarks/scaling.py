"""How cost grows: time and peak memory of the source, hygiene, split and lake steps at growing sizes.

Each (step, size) runs in its own process on synthetic data (benchmarks/scaling_data.py); its
inputs are built first (a --smoke run measures in one process), then the kernel's peak-RSS mark is reset (/proc/self/clear_refs) and the
step runs, so `peak_rss` is the step's true high-water mark with its inputs resident (numpy,
Arrow, DuckDB and Python memory alike). Per step the growth exponent is the log-log slope of
CPU time (process time, all threads: other jobs on a shared machine disturb it less than wall
time) and of working memory (peak RSS above the step's inputs), fitted over all sizes and over
the two largest; wall time, CPU time and working memory are projected to `project_to` rows with
the latter, the inputs linearly. A step is flagged when it
grows faster than n log n (slope > 1.2; n log n is ~1.09 at these sizes), when its projected
memory exceeds the machine's (`memory_limit_gib`), or when it would take over a day. A size whose projected memory exceeds
what this machine has free, or that follows a size slower than `step_timeout_s`, is not run.
Writes benchmarks/scaling.json and docs/scaling.md at full size; prints one JSON line.

    python benchmarks/scaling.py [--smoke] [--only decontam near_dedup] [--config configs/bench.yaml]
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_config import ScalingSizes, describe_machine, load_bench_config  # noqa: E402

RESULT = ROOT / "benchmarks" / "scaling.json"
SUPER_NLOGN = 1.2


# --- the steps: each builds its inputs (untimed) and returns the timed call -----------------------

def _prompts(n: int, sizes: ScalingSizes):
    from benchmarks import scaling_data
    from flows.eval_sets import load_eval_sets

    evals = [t for texts in load_eval_sets(["bundled"]).values() for t in texts]
    texts = scaling_data.prompt_texts(n, sizes.seed, sizes.duplicate_share, evals)
    return scaling_data.prompts_table(texts, sizes.seed)


def step_load(n: int, sizes: ScalingSizes, work: Path):
    import polars as pl

    from flows.config import FileSource
    from flows.sources import load_file

    path = work / "prompts.jsonl"
    pl.from_arrow(_prompts(n, sizes).select(["prompt", "answer", "task"])).write_ndjson(path)
    return lambda: load_file(FileSource(type="jsonl", path=path))


def step_quality(n: int, sizes: ScalingSizes, work: Path):
    from curation.filters import PromptQualityConfig, filter_prompts

    prompts = _prompts(n, sizes)
    return lambda: filter_prompts(prompts, PromptQualityConfig())


def step_exact_dedup(n: int, sizes: ScalingSizes, work: Path):
    from curation.dedup import ExactDedupConfig, exact_dedup

    prompts = _prompts(n, sizes)
    return lambda: exact_dedup(prompts, ExactDedupConfig())


def step_near_dedup(n: int, sizes: ScalingSizes, work: Path):
    from curation.dedup import NearDupConfig, near_dedup

    prompts = _prompts(n, sizes)
    return lambda: near_dedup(prompts, NearDupConfig())


def step_decontam(n: int, sizes: ScalingSizes, work: Path):
    from curation.decontam import DecontamConfig, decontaminate
    from flows.eval_sets import load_eval_sets

    prompts, eval_sets = _prompts(n, sizes), load_eval_sets(["bundled"])
    return lambda: decontaminate(prompts, DecontamConfig(), eval_sets=eval_sets)


def step_skill_tagging(n: int, sizes: ScalingSizes, work: Path):
    from benchmarks.scaling_data import TASKS, HashingEmbedder
    from curation.skill_tagging import TaggingConfig, tag_by_embedding
    from curation.skills import skills_table

    prompts = _prompts(n, sizes)
    skills = skills_table([task.replace("_", " ") for task in TASKS])
    if sizes.embedding:
        from curation.embeddings import load_minilm

        embedder = load_minilm()
    else:
        embedder = HashingEmbedder()
    return lambda: tag_by_embedding(prompts, skills, embedder, TaggingConfig(embed_threshold=0.0))


def _split_inputs(n: int, sizes: ScalingSizes):
    from benchmarks.scaling_data import split_inputs

    return split_inputs(n, sizes.samples_per_prompt, sizes.seed)


def step_prompt_stats(n: int, sizes: ScalingSizes, work: Path):
    from curation.difficulty import DifficultyConfig, prompt_stats

    data = _split_inputs(n, sizes)
    return lambda: prompt_stats(data["generations"], data["verdicts"], DifficultyConfig())


def step_splits(n: int, sizes: ScalingSizes, work: Path):
    from flows.config import CurateConfig
    from flows.stages import split_stage
    from flows.stages.state import CurationState

    data = _split_inputs(n, sizes)
    cfg = CurateConfig(sources=[{"type": "jsonl", "path": "unused.jsonl"}])

    def build():
        state = CurationState(cfg=cfg, lake=None, backend=None, run_id="scaling", summary=None,
                              prompts=data["prompts"], clean_generations=data["generations"],
                              verdicts=data["verdicts"], stats=data["stats"], skills=pa_empty("skills"),
                              prompt_skills=pa_empty("prompt_skills"))
        return split_stage.build(state)
    return build


def pa_empty(name: str):
    from schemas.tables import step_schema

    return step_schema(name).empty_table()


def _verdicts(n: int, sizes: ScalingSizes):
    from benchmarks.scaling_data import constant, numbered
    import numpy as np
    import pyarrow as pa

    correct = np.random.default_rng(sizes.seed).random(n) < 0.5
    return pa.table({"generation_id": numbered("g", n), "prompt_id": numbered("p", n),
                     "verifier": constant("math", n), "extracted": constant("42", n), "correct": correct,
                     "score": correct.astype(float), "detail": constant("", n), "run_id": constant("r", n)})


def step_lake_commit(n: int, sizes: ScalingSizes, work: Path):
    from schemas.lake import Lake

    verdicts = _verdicts(n, sizes)
    return lambda: Lake(work / "lake").commit({"verdicts": verdicts})


def step_lake_recommit(n: int, sizes: ScalingSizes, work: Path):
    from schemas.lake import Lake

    verdicts = _verdicts(n, sizes)
    Lake(work / "lake").commit({"verdicts": verdicts})
    return lambda: Lake(work / "lake").commit({"verdicts": verdicts})


# step name -> (builder, which sizes list, what n counts)
STEPS = {
    "load": (step_load, "prompts", "prompts (JSONL file -> prompts table)"),
    "quality": (step_quality, "prompts", "prompts"),
    "exact_dedup": (step_exact_dedup, "prompts", "prompts"),
    "near_dedup": (step_near_dedup, "prompts", "prompts"),
    "decontam": (step_decontam, "prompts", "prompts (against the 400 bundled eval items)"),
    "skill_tagging": (step_skill_tagging, "tagging_prompts", "prompts (MiniLM embedding tagging)"),
    "prompt_stats": (step_prompt_stats, "verdict_rows", "verdict rows (rank: pass rate per prompt)"),
    "splits": (step_splits, "verdict_rows", "verdict rows (SFT, pairs, RL, curriculum, mix)"),
    "lake_commit": (step_lake_commit, "commit_rows", "verdict rows, into an empty lake"),
    "lake_recommit": (step_lake_recommit, "commit_rows", "verdict rows, replacing the same keys"),
}


# --- one measurement, in its own process ----------------------------------------------------------

def _rss_gib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 2**20
    return 0.0


def measure(step: str, n: int, sizes: ScalingSizes) -> dict:
    """Build the step's inputs, reset the peak-RSS mark, time the step; seconds and GiB."""
    base = _rss_gib("VmRSS")
    with tempfile.TemporaryDirectory() as work:
        call = STEPS[step][0](n, sizes, Path(work))
        before = _rss_gib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
        started, cpu = time.perf_counter(), time.process_time()
        call()
        seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        peak = _rss_gib("VmHWM")
    return {"step": step, "n": n, "seconds": round(seconds, 3), "cpu_s": round(cpu_s, 3),
            "rss_base_gib": round(base, 3), "rss_inputs_gib": round(before, 3), "peak_rss_gib": round(peak, 3)}


def run_worker(step: str, n: int, sizes: ScalingSizes, args) -> dict:
    """measure() in a fresh process, so sizes and steps do not share memory or caches; a smoke
    run measures in this process (seconds, not a process start per step)."""
    if args.smoke:
        return measure(step, n, sizes)
    command = [sys.executable, __file__, "--worker", step, "--size", str(n), "--config", str(args.config)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode < 0:
        return {"step": step, "n": n, "error": f"killed by signal {-done.returncode} before it finished"}
    if done.returncode != 0 or not lines:
        tail = " ".join(done.stderr.strip().splitlines()[-2:])[-300:]
        return {"step": step, "n": n, "error": f"exit {done.returncode}: {tail}"}
    return json.loads(lines[-1])


# --- fits and projections -------------------------------------------------------------------------

def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) on log(x)."""
    points = [(x, y) for x, y in points if x > 0 and y > 0]
    if len(points) < 2:
        return None
    xs, ys = [math.log(x) for x, _ in points], [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den, 3) if den else None


def growth(runs: list[dict], sizes: ScalingSizes) -> dict:
    """Exponents of CPU time and of working memory (peak above the inputs), projections to
    project_to (inputs grow linearly, as the two largest sizes say; the working memory by its
    exponent), and the flags they raise."""
    ok = sorted((r for r in runs if "error" not in r and "skipped" not in r), key=lambda r: r["n"])
    time_points = [(r["n"], r.get("cpu_s", r["seconds"])) for r in ok]
    work_points = [(r["n"], max(r["peak_rss_gib"] - r["rss_inputs_gib"], 1e-3)) for r in ok]
    out = {"time_exponent": slope(time_points), "time_exponent_top": slope(time_points[-2:]),
           "memory_exponent": slope(work_points), "memory_exponent_top": slope(work_points[-2:])}
    if not ok:
        return out
    last, factor = ok[-1], sizes.project_to / ok[-1]["n"]
    t_exp = out["time_exponent_top"] or 1.0
    m_exp = max(out["memory_exponent_top"] if out["memory_exponent_top"] is not None else 1.0, 0.0)
    first = ok[-2] if len(ok) > 1 else {"n": 0, "rss_inputs_gib": last["rss_base_gib"]}
    per_row = max(last["rss_inputs_gib"] - first["rss_inputs_gib"], 0.0) / (last["n"] - first["n"])
    inputs = last["rss_inputs_gib"] + per_row * (sizes.project_to - last["n"])
    out["projected_seconds"] = round(last["seconds"] * factor ** t_exp, 1)
    out["projected_cpu_s"] = round(last.get("cpu_s", last["seconds"]) * factor ** t_exp, 1)
    out["projected_peak_gib"] = round(inputs + work_points[-1][1] * factor ** m_exp, 2)
    out["super_nlogn"] = t_exp > SUPER_NLOGN
    out["over_memory"] = out["projected_peak_gib"] > sizes.memory_limit_gib
    out["over_day"] = out["projected_seconds"] > 86_400
    return out


def available_gib() -> float:
    """Memory the machine could give this run now (MemAvailable)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("inf")


def run_step(step: str, sizes: ScalingSizes, args) -> dict:
    """Every size of one step, smallest first; a size that would not fit or follows a timeout is skipped."""
    runs = []
    for n in getattr(sizes, STEPS[step][1]):
        previous = [r for r in runs if "error" not in r and "skipped" not in r]
        if previous and previous[-1]["seconds"] > sizes.step_timeout_s:
            runs.append({"step": step, "n": n, "skipped": f"previous size took over {sizes.step_timeout_s:.0f} s"})
            continue
        if previous:  # one size measured: assume memory grows linearly
            last = previous[-1]
            need = (growth(previous, sizes.model_copy(update={"project_to": n}))["projected_peak_gib"]
                    if len(previous) >= 2 else last["peak_rss_gib"] * n / last["n"])
            if need > 0.8 * available_gib():
                runs.append({"step": step, "n": n, "skipped": f"projected {need:.1f} GiB, "
                                                             f"{available_gib():.1f} GiB available"})
                continue
        print(f"[scaling] {step} n={n:,} ...", file=sys.stderr, flush=True)
        runs.append(run_worker(step, n, sizes, args))
    result = {"step": step, "counts": STEPS[step][2], "runs": runs, **growth(runs, sizes)}
    print(json.dumps(result), file=sys.stderr, flush=True)  # a crash later loses no measurement
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "bench.yaml")
    parser.add_argument("--smoke", action="store_true", help="CI sizes (configs/bench.yaml scaling.smoke)")
    parser.add_argument("--only", nargs="+", choices=list(STEPS), help="run just these steps")
    parser.add_argument("--refit", action="store_true",
                        help="no measuring: refit the runs in benchmarks/scaling.json and rewrite it and the doc")
    parser.add_argument("--worker", choices=list(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = load_bench_config(args.config, smoke=args.smoke).scaling
    if args.worker:
        print(json.dumps(measure(args.worker, args.size, sizes)))
        return
    if args.refit:
        result = json.loads(RESULT.read_text())
        result["steps"] = [{**s, **growth(s["runs"], sizes)} for s in result["steps"]]
        save(result)
        return
    machine = describe_machine()
    steps = [run_step(step, sizes, args) for step in (args.only or STEPS)]
    result = {"benchmark": "scaling", "smoke": args.smoke, "machine": machine,
              "memory": "peak RSS of the step's own process (/proc VmHWM after a clear_refs reset), inputs included",
              "sizes": sizes.model_dump(), "steps": steps}
    if not args.smoke:
        if args.only and RESULT.exists():  # keep the other steps' last measurements
            kept = [s for s in json.loads(RESULT.read_text())["steps"] if s["step"] not in args.only]
            result["steps"] = sorted(kept + steps, key=lambda s: list(STEPS).index(s["step"]))
        save(result)
    print(json.dumps(result))


def save(result: dict) -> None:
    """benchmarks/scaling.json and docs/scaling.md."""
    from benchmarks.scaling_report import write_report

    RESULT.write_text(json.dumps(result, indent=1) + "\n")
    write_report(result)


if __name__ == "__main__":
    main()
