"""A writer process commits while this process reads: every read sees one whole snapshot.

Each commit writes batch number b to N rows of two tables at once, so a reader that ever sees
mixed batches (within a table, or between the two tables at one version) saw a torn snapshot.
"""

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.compute as pc

from schemas.lake import Lake

ROWS_PER_TABLE = 50
N_COMMITS, WRITER_BUDGET_S = 10, 6.0  # the writer stops at whichever comes first
REPO_ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from schemas.lake import Lake

    lake, n_rows, n_commits = Lake(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    deadline = time.monotonic() + float(sys.argv[5])
    for batch in range(1, n_commits + 1):
        lake.commit({
            "train_metrics": [{"run_id": "conc", "step": i, "metric": "batch", "value": float(batch)}
                              for i in range(n_rows)],
            "filter_log": [{"record_id": f"r{i}", "table_name": "prompts", "step": "batch",
                            "reason": str(batch), "run_id": "conc"} for i in range(n_rows)],
        })
        print(batch, flush=True)
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)  # a flow computes between commits
""")

BOTH_TABLES = """
    SELECT (SELECT min(value) FROM train_metrics) AS a_min, (SELECT max(value) FROM train_metrics) AS a_max,
           (SELECT count(*) FROM train_metrics) AS a_rows,
           (SELECT min(reason::DOUBLE) FROM filter_log) AS b_min,
           (SELECT max(reason::DOUBLE) FROM filter_log) AS b_max,
           (SELECT count(*) FROM filter_log) AS b_rows
"""


def _batches_seen(lake: Lake) -> list[float]:
    """Read both tables twice over (one query; two reads pinned to one version); check each is whole."""
    row = lake.query(BOTH_TABLES).to_pylist()[0]
    assert row["a_rows"] == row["b_rows"] == ROWS_PER_TABLE, row
    assert row["a_min"] == row["a_max"] == row["b_min"] == row["b_max"], f"torn snapshot: {row}"
    version = lake.latest_version()
    metrics = lake.read("train_metrics", version=version)
    log = lake.read("filter_log", version=version)
    values = set(metrics.column("value").to_pylist())
    reasons = set(pc.cast(log.column("reason"), "double").to_pylist())
    assert metrics.num_rows == log.num_rows == ROWS_PER_TABLE
    assert len(values) == 1 and values == reasons, f"torn snapshot at v{version}: {values} vs {reasons}"
    return [row["a_min"], values.pop()]


def test_reads_see_whole_commits_while_another_process_writes(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.commit({"train_metrics": [{"run_id": "conc", "step": i, "metric": "batch", "value": 0.0}
                                   for i in range(ROWS_PER_TABLE)],
                 "filter_log": [{"record_id": f"r{i}", "table_name": "prompts", "step": "batch",
                                 "reason": "0", "run_id": "conc"} for i in range(ROWS_PER_TABLE)]})
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(REPO_ROOT), str(lake.location), str(ROWS_PER_TABLE),
         str(N_COMMITS), str(WRITER_BUDGET_S)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    seen, hard_stop = [], time.monotonic() + WRITER_BUDGET_S + 8  # a hung writer fails, not hangs
    try:
        while writer.poll() is None and time.monotonic() < hard_stop:
            seen.extend(_batches_seen(lake))
    finally:
        if writer.poll() is None:
            writer.kill()
        committed, errors = writer.communicate(timeout=WRITER_BUDGET_S + 5)
    assert writer.returncode == 0, f"writer failed: {errors[-2000:]}"
    last_batch = float(committed.split()[-1])
    assert seen == sorted(seen), "a reader went back in time"
    assert len(set(seen)) >= 2, f"reads did not interleave with commits: {sorted(set(seen))}"
    assert _batches_seen(lake) == [last_batch] * 2
