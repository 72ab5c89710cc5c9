"""Rollout analytics at scale: pass rate per prompt and difficulty-bucket counts over verdict rows.

warmstart's Lake.query (SQL over the lake's Parquet, connection and attach included) vs polars
(lazy scan) vs pandas, the latter two on one Parquet file holding the same rows. Each engine
computes the per-prompt table (k, n_correct, pass_rate, mean_score, bucket) and the bucket
counts; all three must agree. Prints one JSON line; times are the best of REPEATS runs.

    .venv/bin/python benchmarks/sql_rollouts.py [--rows 10000000] [--prompts 100000]
"""

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
from rich.console import Console
from rich.progress import track

from curation.difficulty import DifficultyConfig
from schemas.lake import Lake

REPEATS, BATCHES = 3, 10
EDGES = DifficultyConfig()
COLUMNS = "generation_id, prompt_id, verifier, extracted, correct, score, detail, run_id"


def rows_sql(start: int, stop: int, n_prompts: int) -> str:
    """Verdict rows start..stop: k = rows/prompts per prompt, true pass rates 0, 0.1, ... 1."""
    return f"""
        SELECT substr(md5(i::VARCHAR), 1, 20) AS generation_id,
               substr(md5('p' || (i % {n_prompts})::VARCHAR), 1, 20) AS prompt_id,
               'math' AS verifier, NULL::VARCHAR AS extracted,
               (hash(i) % 1000) < (hash(i % {n_prompts}) % 11) * 100 AS correct,
               (hash(i * 7) % 1000) / 1000.0 AS score, NULL::VARCHAR AS detail, 'bench' AS run_id
        FROM range({start}, {stop}) AS t(i)"""


def write_data(workdir: Path, n_rows: int, n_prompts: int) -> tuple[Lake, Path]:
    """The same rows into one Parquet file and, batch by batch (one snapshot each), into a lake."""
    parquet = workdir / "verdicts.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY ({rows_sql(0, n_rows, n_prompts)}) TO '{parquet}' (FORMAT parquet)")
    lake = Lake(workdir / "lake")
    lake.ensure()
    step = -(-n_rows // BATCHES)
    with lake.connect(write=True) as con:  # bulk load through DuckDB; Lake.commit is for curation
        for start in track(range(0, n_rows, step), description="loading the lake",
                           console=Console(stderr=True)):
            con.execute(f"INSERT INTO verdicts ({COLUMNS}) "
                        f"{rows_sql(start, min(start + step, n_rows), n_prompts)}")
    return lake, parquet


PER_PROMPT_SQL = f"""
    SELECT prompt_id, count(*) AS k, sum(correct::INTEGER) AS n_correct,
           sum(correct::INTEGER)::DOUBLE / count(*) AS pass_rate, avg(score) AS mean_score,
           CASE WHEN pass_rate >= 1 THEN 'solved' WHEN pass_rate >= {EDGES.easy_min} THEN 'easy'
                WHEN pass_rate >= {EDGES.medium_min} THEN 'medium'
                WHEN pass_rate > 0 THEN 'hard' ELSE 'unsolved' END AS difficulty_bucket
    FROM verdicts GROUP BY prompt_id"""


def ours(lake: Lake) -> tuple[int, dict]:
    per_prompt = lake.query(PER_PROMPT_SQL)
    counts = per_prompt.group_by("difficulty_bucket").aggregate([("prompt_id", "count")])
    return per_prompt.num_rows, dict(zip(*counts.to_pydict().values()))


def with_polars(parquet: Path) -> tuple[int, dict]:
    import polars as pl

    rate = pl.col("pass_rate")
    per_prompt = (
        pl.scan_parquet(parquet).group_by("prompt_id")
        .agg(k=pl.len(), n_correct=pl.col("correct").cast(pl.Int64).sum(), mean_score=pl.col("score").mean())
        .with_columns(pass_rate=pl.col("n_correct") / pl.col("k"))
        .with_columns(difficulty_bucket=pl.when(rate >= 1).then(pl.lit("solved"))
                      .when(rate >= EDGES.easy_min).then(pl.lit("easy"))
                      .when(rate >= EDGES.medium_min).then(pl.lit("medium"))
                      .when(rate > 0).then(pl.lit("hard")).otherwise(pl.lit("unsolved")))
        .collect())
    counts = per_prompt.group_by("difficulty_bucket").len()
    return per_prompt.height, dict(counts.iter_rows())


def with_pandas(parquet: Path) -> tuple[int, dict]:
    import numpy as np
    import pandas as pd

    frame = pd.read_parquet(parquet, columns=["prompt_id", "correct", "score"])
    per_prompt = frame.groupby("prompt_id").agg(k=("correct", "size"), n_correct=("correct", "sum"),
                                                mean_score=("score", "mean"))
    rate = per_prompt["n_correct"] / per_prompt["k"]
    per_prompt["difficulty_bucket"] = np.select(
        [rate >= 1, rate >= EDGES.easy_min, rate >= EDGES.medium_min, rate > 0],
        ["solved", "easy", "medium", "hard"], default="unsolved")
    counts = per_prompt["difficulty_bucket"].value_counts()
    return len(per_prompt), {name: int(n) for name, n in counts.items()}


def best_time(run, *args) -> tuple[float, tuple]:
    """Best wall time of REPEATS runs, and the last result."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = run(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=None, help="keep data here (default: temp)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sql_rollouts-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        lake, parquet = write_data(workdir, args.rows, args.prompts)
        ours_s, ours_result = best_time(ours, lake)
        polars_s, polars_result = best_time(with_polars, parquet)
        pandas_s, pandas_result = best_time(with_pandas, parquet)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    assert ours_result == polars_result == pandas_result, (ours_result, polars_result, pandas_result)
    assert ours_result[0] == args.prompts and sum(ours_result[1].values()) == args.prompts
    print(json.dumps({
        "name": "sql_rollouts", "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "ours_s": round(ours_s, 3), "polars_s": round(polars_s, 3), "pandas_s": round(pandas_s, 3),
        "ratio_vs_fastest": round(ours_s / min(ours_s, polars_s, pandas_s), 3), "rows": args.rows,
        "buckets": ours_result[1]}))


if __name__ == "__main__":
    main()
