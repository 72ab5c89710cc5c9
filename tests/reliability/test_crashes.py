"""kill -9 in the middle of a lake commit and of a training run: nothing half-written survives.

Commit: a writer process replaces two tables in one commit, in a loop; it is killed inside the
transaction (between the DELETE and INSERT of the second table, then at timed points of a plain
commit). The lake must open, and its latest snapshot must hold one whole batch in both tables.
Training: `warmstart train sft` is killed after its first checkpoint and resumed with --resume.
(Kill during generation: tests/flows/test_resume.py.)
"""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flows.cli import main
from schemas.lake import Lake
from schemas.split_registry import register_split

REPO_ROOT = Path(__file__).resolve().parents[2]
ROWS = 60_000  # per table and commit: big enough that a commit takes a visible fraction of a second

WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import pyarrow as pa
    from schemas import lake_sql
    from schemas.lake import Lake

    lake, rows, stall = Lake(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "stall"
    batch = 0
    if lake.exists():  # continue after the batch the last run left
        values = lake.query("SELECT max(value) AS b FROM train_metrics").column("b").to_pylist()
        batch = int(values[0] or 0)
    insert_from, started = lake_sql.insert_from, [None]

    def stalling_insert(table, staged):
        # stall inside the transaction once the first table is replaced and the second deleted
        if stall and table.name == "filter_log" and started[0] > first:
            print(f"inside {started[0]}", flush=True)
            time.sleep(60)
        return insert_from(table, staged)

    lake_sql.insert_from = stalling_insert
    first = batch + 1
    for batch in range(batch + 1, batch + 1000):
        metrics = pa.table({"run_id": ["crash"] * rows, "step": list(range(rows)), "metric": ["batch"] * rows,
                            "value": [float(batch)] * rows})
        log = pa.table({"record_id": [f"r{i}" for i in range(rows)], "table_name": ["prompts"] * rows,
                        "step": ["crash"] * rows, "reason": [str(batch)] * rows, "run_id": ["crash"] * rows})
        started[0] = batch
        print(f"start {batch}", flush=True)
        lake.commit({"train_metrics": metrics, "filter_log": log})
        print(f"done {batch}", flush=True)
""")


def start_writer(lake: Lake, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(REPO_ROOT), str(lake.location), str(ROWS), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_until(writer: subprocess.Popen, prefix: str, deadline: float) -> list[str]:
    """Lines the writer printed up to and including the first that starts with `prefix`."""
    lines = []
    while time.monotonic() < deadline:
        line = writer.stdout.readline()
        if not line:
            raise AssertionError(f"writer ended early: {writer.stderr.read()[-2000:]}")
        lines.append(line.strip())
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"writer never printed {prefix!r}: {lines}")


def last_batch(lines: list[str], word: str) -> int:
    return max((int(line.split()[1]) for line in lines if line.startswith(word)), default=0)


def assert_whole_snapshot(lake: Lake, done: int, started: int) -> int:
    """The lake opens; its latest snapshot holds exactly one batch, all rows, in both tables."""
    row = lake.query("""
        SELECT (SELECT count(*) FROM train_metrics) AS n_metrics, (SELECT count(*) FROM filter_log) AS n_log,
               (SELECT min(value) FROM train_metrics) AS lo, (SELECT max(value) FROM train_metrics) AS hi,
               (SELECT min(reason::DOUBLE) FROM filter_log) AS log_lo,
               (SELECT max(reason::DOUBLE) FROM filter_log) AS log_hi""").to_pylist()[0]
    assert row["n_metrics"] == row["n_log"] == ROWS, f"rows lost or half-written: {row}"
    assert row["lo"] == row["hi"] == row["log_lo"] == row["log_hi"], f"torn snapshot: {row}"
    assert done <= row["hi"] <= started, f"snapshot holds batch {row['hi']}, writer had done {done}"
    return int(row["hi"])


def kill(writer: subprocess.Popen) -> None:
    writer.kill()  # SIGKILL: no cleanup, no rollback
    writer.wait(timeout=10)
    writer.stdout.close()
    writer.stderr.close()


def test_kill_9_inside_a_commit_leaves_the_last_whole_snapshot(tmp_path):
    lake = Lake(tmp_path / "lake")
    deadline = time.monotonic() + 40

    # 1: killed inside the transaction, after one table was replaced and the other deleted
    writer = start_writer(lake, "stall")
    lines = read_until(writer, "inside", deadline)
    kill(writer)
    batch = assert_whole_snapshot(lake, last_batch(lines, "done"), last_batch(lines, "done"))
    assert batch >= 1

    # 2-4: killed at timed points of plain commits (early, middle, late in the commit)
    for fraction in (0.2, 0.5, 0.85):
        writer = start_writer(lake, "plain")
        lines = read_until(writer, "done", deadline)  # one commit to learn how long a commit takes
        tic = time.monotonic()
        lines += read_until(writer, "done", deadline)
        lines += read_until(writer, "start", deadline)
        time.sleep(fraction * (time.monotonic() - tic))
        kill(writer)
        batch = assert_whole_snapshot(lake, last_batch(lines, "done"), last_batch(lines, "start"))

    # the lake still takes commits after four crashes
    writer = start_writer(lake, "plain")
    lines = read_until(writer, "done", deadline)
    kill(writer)
    assert assert_whole_snapshot(lake, last_batch(lines, "done"), last_batch(lines, "start") + 1) > batch


# --- training ---------------------------------------------------------------------------------

TRAIN = "import sys; from flows.cli import main; sys.exit(main(sys.argv[1:]))"
MAX_STEPS, SAVE_EVERY = 40, 10


@pytest.fixture
def tiny_model(bundled_model_path, tmp_path):
    """A 2-layer random Llama over the bundled tokenizer, saved as a HF checkpoint."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(tmp_path / "tiny", safe_serialization=True)
    tokenizer.save_pretrained(tmp_path / "tiny")
    return tmp_path / "tiny"


def sft_split(lake: Lake, n: int = 12) -> None:
    rows = [{"example_id": f"e{i}", "prompt_id": f"p{i}", "origin": "gold",
             "messages": [{"role": "user", "content": f"What is {i} + {i}?"},
                          {"role": "assistant", "content": f"Answer: {2 * i}"}]} for i in range(n)]
    lake.commit({"sft_examples": rows}, run_id="setup")
    register_split(lake, "sft", "sft", [r["example_id"] for r in rows], run_id="setup")


def train_argv(lake: Lake, model: Path, out: Path) -> list[str]:
    return ["train", "sft", "--split", "sft", "--lake", str(lake.location), "--model", str(model), "--out",
            str(out), "--max-steps", str(MAX_STEPS), "--set", f"save_interval={SAVE_EVERY}", "--batch-size", "2",
            "--device", "cpu", "--set", "progress=false"]


@pytest.mark.slow
def test_kill_9_after_a_checkpoint_then_resume(tiny_model, tmp_path, capsys):
    import torch
    from transformers import AutoModelForCausalLM

    from trainers.checkpoint import list_checkpoints, read_lineage

    lake, out = Lake(tmp_path / "lake"), tmp_path / "out"
    sft_split(lake)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    run = subprocess.Popen([sys.executable, "-c", TRAIN, *train_argv(lake, tiny_model, out)], cwd=REPO_ROOT,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list_checkpoints(out) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    run.kill()
    _, err = run.communicate(timeout=10)
    assert run.returncode == -9, f"training was not killed mid-run (exit {run.returncode}): {err[-2000:]}"
    killed_at = int(list_checkpoints(out)[-1].name.rsplit("-", 1)[1])
    assert killed_at < MAX_STEPS
    killed = lake.query("SELECT run_id, status FROM runs WHERE kind = 'train'").to_pylist()
    assert [r["status"] for r in killed] == ["running"]  # the kill left no chance to record more
    assert lake.query("SELECT count(*) AS n FROM train_metrics").column("n")[0].as_py() == 0

    assert main(train_argv(lake, tiny_model, out) + ["--resume"]) == 0, capsys.readouterr().err
    lineage = read_lineage(out)
    resumed_from = int(Path(lineage["resumed_from"]).name.rsplit("-", 1)[1])
    assert resumed_from >= killed_at and lineage["steps"] == MAX_STEPS
    model = AutoModelForCausalLM.from_pretrained(out)  # the final checkpoint loads and runs
    assert model(input_ids=torch.tensor([[1, 2, 3]])).logits.shape[-1] == model.config.vocab_size

    runs = lake.query("SELECT run_id, status, parent_run_id FROM runs WHERE kind = 'train' ORDER BY started")
    first, second = runs.to_pylist()
    assert second["status"] == "completed" and second["parent_run_id"] == first["run_id"]
    assert first["status"] == "interrupted", "the killed run is closed by the next run (its lock died with it)"
    metrics = lake.query("SELECT run_id, step, metric FROM train_metrics").to_pylist()
    keys = [(m["run_id"], m["step"], m["metric"]) for m in metrics]
    assert len(keys) == len(set(keys)), "duplicated train_metrics rows"
    loss_steps = sorted(m["step"] for m in metrics if m["metric"] == "loss")
    assert loss_steps == list(range(resumed_from + 1, MAX_STEPS + 1))  # each step once, none replayed
