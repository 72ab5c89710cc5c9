"""Crash safety: kill -9 a real `warmstart run` mid-generation, run again, get the rows of an
uninterrupted run; a second run on the same lake is refused at once; readers keep working."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from flows.cli import main
from schemas.lake import Lake

pytestmark = pytest.mark.slow

N_PROMPTS = 40
TABLES = ["prompts", "generations", "verdicts", "prompt_stats", "sft_examples", "preference_pairs",
          "rl_prompts", "filter_log"]


def rigged_model(path: Path) -> Path:
    """A tiny Llama (hidden 32, 2 layers) whose every next token is '7' or end-of-turn, each with
    probability ~1/2, whatever the context: fast, seeded, and right (answer "7") about 1/4 of the
    time, so pass rates fall between 0 and 1 and every split gets rows."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from curation.models import models_dir

    tok = AutoTokenizer.from_pretrained(models_dir() / "smollm2-135m-instruct")
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # layers add nothing; the final state is a constant; lm_head picks the odds
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        for weight in (model.model.embed_tokens.weight, model.lm_head.weight):
            weight.zero_()
        model.model.embed_tokens.weight[:, 0] = 1.0
        model.model.norm.weight.zero_()
        model.model.norm.weight[0] = 1.0
        model.lm_head.weight[:, 0] = -3.0
        model.lm_head.weight[[tok.convert_tokens_to_ids("7"), tok.eos_token_id], 0] = 0.0
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def write_config(folder: Path, lake_dir: Path, model: Path, n: int = N_PROMPTS, **over) -> Path:
    """A curate config over n JSONL prompts (gold answer 7), one prompt per shard."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "prompts.jsonl", "w") as out:
        for i in range(n):
            out.write(json.dumps({"prompt": f"What is {i} + 7 - {i}?", "answer": "7"}) + "\n")
    raw = {"lake": str(lake_dir), "model": str(model), "backend": "transformers",
           "backend_options": {"batch_size": 4},
           "sources": [{"type": "jsonl", "path": str(folder / "prompts.jsonl"), "verifier": "exact"}],
           "sampling": {"k": 4, "temperature": 1.0, "max_tokens": 6, "seed": 0},
           # one prompt per shard: each prompt's samples depend on the seed alone, not on its batch
           "shard_size": 1,
           # near-duplicate prompts and one-token answers by design; no eval set needed here
           "dedup": {"near": None}, "decontam": None, "quality": None, **over}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def subprocess_env(home: Path) -> dict:
    """Quiet Prefect with its own home (the ephemeral API's database) for a child `warmstart`."""
    return {**os.environ, "PREFECT_HOME": str(home), "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "TOKENIZERS_PARALLELISM": "false",
            # a loaded 2-core machine can take longer than the default 20 s to start the API
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}


def staged_parts(lake_dir: Path) -> int:
    return len(list((lake_dir / "staging").glob("*/part-*.parquet")))


def rows_of(lake: Lake) -> dict[str, list[str]]:
    """Every curated table's rows, minus run_id, as sorted JSON: comparable across lakes."""
    found = {}
    for name in TABLES:
        rows = lake.read(name).drop_columns(["run_id"]).to_pylist()
        found[name] = sorted(json.dumps(row, sort_keys=True, default=str) for row in rows)
    return found


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return rigged_model(tmp_path_factory.mktemp("models") / "rigged-llama")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, model):
    """The same config run once, start to end, in-process."""
    from flows.config import load_config
    from flows.curate import run_curation

    folder = tmp_path_factory.mktemp("reference")
    run_curation(load_config(write_config(folder, folder / "lake", model)))
    return Lake(folder / "lake")


def test_kill_9_mid_generation_then_rerun_gives_the_uninterrupted_rows(tmp_path, model, uninterrupted, capsys):
    from flows.config import load_config
    from flows.curate import run_curation

    lake_dir = tmp_path / "lake"
    config = write_config(tmp_path / "job", lake_dir, model)
    log = open(tmp_path / "run.log", "wb")
    # its own process group: kill -9 reaches its ephemeral Prefect API too, which would outlive it
    child = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", str(config)], stdout=log, stderr=log,
                             env=subprocess_env(tmp_path / "prefect"), start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while staged_parts(lake_dir) < 3 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.poll() is None, f"run ended before the kill: {(tmp_path / 'run.log').read_text()[-2000:]}"

        started = time.monotonic()  # a second writer is refused at once, naming the holder
        assert main(["run", str(config)]) == 4
        assert f"another warmstart run (pid {child.pid} on " in capsys.readouterr().err
        assert time.monotonic() - started < 30
        # a reader is not blocked by the run
        assert main(["sql", "SELECT count(*) AS n FROM prompts", "--lake", str(lake_dir), "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out) == {"n": N_PROMPTS}

        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        log.close()
    staged = staged_parts(lake_dir)
    assert 0 < staged < N_PROMPTS, "killed mid-generation, with some shards staged"
    lake = Lake(lake_dir)
    assert lake.query("SELECT count(*) AS n FROM generations").to_pylist() == [{"n": 0}], "nothing half-committed"

    summary = run_curation(load_config(config))
    generated = dict((name, counts) for name, _, counts in summary.stages)["generate"]["generated_now"]
    assert generated == (N_PROMPTS - staged) * 4, "only the missing prompts were sampled again"
    assert staged_parts(lake_dir) == 0, "staging is cleared once committed"
    assert rows_of(lake) == rows_of(uninterrupted)
    assert lake.query("SELECT count(*) = count(DISTINCT generation_id) AS unique FROM generations").to_pylist() \
        == [{"unique": True}]
    runs = lake.query("SELECT status FROM runs WHERE kind = 'curate' ORDER BY started").column(0).to_pylist()
    assert runs == ["interrupted", "completed"], "the killed run is marked once the next run holds the lock"


def test_rerun_of_a_finished_run_samples_nothing_and_changes_no_rows(uninterrupted, tmp_path):
    from flows.config import load_config
    from flows.curate import run_curation

    before = rows_of(uninterrupted)
    cfg = load_config(write_config(tmp_path, Path(uninterrupted.location), Path(json.loads(
        uninterrupted.query("SELECT config FROM runs LIMIT 1").column(0)[0].as_py())["model"])))
    summary = run_curation(cfg)
    assert dict((n, c) for n, _, c in summary.stages)["generate"]["generated_now"] == 0
    assert rows_of(uninterrupted) == before
