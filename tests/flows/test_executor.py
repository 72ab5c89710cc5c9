"""The executor: sharding over data-parallel workers, fast failures, and a real local Ray head."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from flows.executor import (EngineSpec, ExecutorConfig, assign_shards, check_executor, gpus_for, localize,
                            parse_address, task_runner_for, worker_count)
from flows.shards import cut_shards
from schemas.errors import ConfigError
from schemas.lake import Lake

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_assign_shards_deals_every_shard_once_and_balances_samples():
    shards = cut_shards({(0, 1, 2, 3): list(range(40)), (3,): list(range(40, 60))}, 4)
    groups = assign_shards(shards, 3)
    dealt = [s for g in groups for s in g]
    assert sorted(map(repr, dealt)) == sorted(map(repr, shards)), "each shard exactly once"
    loads = [sum(len(i) * len(r) for i, r in g) for g in groups]
    assert max(loads) - min(loads) <= 16, loads  # at most one shard's samples apart
    assert assign_shards(shards, 3) == groups, "deterministic"
    assert all(g == sorted(g, key=shards.index) for g in groups), "each worker keeps shard order"


def test_assign_shards_uses_no_more_workers_than_shards():
    shards = cut_shards({(0,): [0, 1, 2]}, 2)
    assert [len(g) for g in assign_shards(shards, 8)] == [1, 1]
    with pytest.raises(ConfigError):
        assign_shards(shards, 0)


def test_localize_sends_a_worker_only_its_prompts():
    prompts = pa.table({"prompt_id": list("abcdef"), "prompt": list("ABCDEF")})
    local, shards = localize(prompts, [((0,), [4, 1]), ((1,), [5])])
    assert local.column("prompt_id").to_pylist() == ["b", "e", "f"]
    assert [local.take(rows).column("prompt_id").to_pylist() for _, rows in shards] == [["e", "b"], ["f"]]


@pytest.mark.parametrize("cfg, resources, options, gpus, workers", [
    (ExecutorConfig(type="ray"), {"CPU": 16, "GPU": 8}, {"tensor_parallel_size": 2}, 2.0, 4),
    (ExecutorConfig(type="ray"), {"CPU": 16, "GPU": 8}, {}, 1.0, 8),
    (ExecutorConfig(type="ray"), {"CPU": 16}, {"tensor_parallel_size": 2}, 0.0, 3),
    (ExecutorConfig(type="ray", workers=5, gpus_per_worker=0.5), {"GPU": 4}, {}, 0.5, 5),
])
def test_one_engine_per_gpu_group_or_per_node(cfg, resources, options, gpus, workers):
    assert gpus_for(cfg, resources, options) == gpus
    assert worker_count(cfg, resources, 3, gpus) == workers


def test_engine_spec_names_the_model_like_the_backend(tmp_path):
    assert EngineSpec("transformers", str(tmp_path / "tiny-llama")).model_name == "tiny-llama"
    assert EngineSpec("openai", "served/name").model_name == "served/name"


@pytest.mark.parametrize("address", ["nohost", "host:port", "ray://:1"])
def test_malformed_ray_address_is_a_config_error(address):
    with pytest.raises(ConfigError, match="host:port"):
        parse_address(address)


def test_dead_ray_address_fails_within_seconds():
    cfg = ExecutorConfig(type="ray", address=f"127.0.0.1:{free_port()}", connect_timeout_s=2)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="no Ray cluster answers"):
        task_runner_for(cfg)
    assert time.monotonic() - started < 5
    check_executor(ExecutorConfig())  # local needs no cluster


def test_local_executor_runs_in_process():
    from prefect.task_runners import ThreadPoolTaskRunner

    assert isinstance(task_runner_for(ExecutorConfig()), ThreadPoolTaskRunner)


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A real Ray head on a free localhost port, stopped (its own processes only) at the end."""
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen([str(RAY), "start", "--head", f"--port={port}", "--num-cpus=2",
                             "--include-dashboard=false", "--disable-usage-stats", "--block",
                             f"--temp-dir={temp}", "--node-ip-address=127.0.0.1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    else:
        head.kill()
        pytest.fail("ray head did not start")
    yield f"127.0.0.1:{port}"
    head.terminate()  # --block: ends the head's processes with it
    try:
        head.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, 9)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from curation.models import models_dir

    tok = AutoTokenizer.from_pretrained(models_dir() / "smollm2-135m-instruct")
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.mark.slow
def test_shards_run_on_ray_workers_and_match_local_generation(ray_head, tiny_model, tmp_path):
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from curation import generate
    from flows.config import validate
    from flows.generation import pending_work
    from flows.executor import engine_spec, generate_parallel
    from flows.staging import GenerationStage

    cfg = validate({"sources": [{"type": "reasoning_gym", "task": "chain_sum", "count": 1}],
                    "backend": "transformers", "model": str(tiny_model), "backend_options": {"batch_size": 2},
                    "sampling": {"k": 2, "temperature": 0, "max_tokens": 6}, "shard_size": 2})
    prompts = pa.table({"prompt_id": [f"p{i}" for i in range(6)], "prompt": [f"{i} + {i} = ?" for i in range(6)]})
    spec = engine_spec("transformers", str(tiny_model), 0, {"batch_size": 2})
    sampling = generate.Sampling(**cfg.sampling.model_dump())
    work = pending_work(prompts, spec.model_name, sampling, set())
    stage = GenerationStage(tmp_path / "lake", "key")
    executor = ExecutorConfig(type="ray", address=ray_head, workers=2)
    done = []

    @task(cache_policy=NO_CACHE)
    def generate_stage():  # as in the curate flow: shard tasks are submitted from a stage task
        return generate_parallel(spec, prompts, work, cfg, sampling, stage, done.append, executor)

    @flow(task_runner=task_runner_for(executor))
    def on_ray():
        return generate_stage()

    tables = on_ray()
    assert len(tables) == 2 and sum(done) == 6, "two workers, every prompt reported"
    remote = pa.concat_tables(tables).sort_by("generation_id")
    assert len(list(stage.folder.glob("part-*.parquet"))) == 3, "each shard staged by its worker"
    assert stage.read().sort_by("generation_id").equals(remote)
    backend = spec.load()
    local = generate.generate_table(backend, prompts, cfg.prompt_format, sampling).sort_by("generation_id")
    assert remote.column("generation_id").equals(local.column("generation_id"))
    assert remote.column("response").to_pylist() == local.column("response").to_pylist()


def test_run_with_a_dead_ray_address_fails_fast_and_writes_nothing(tmp_path, capsys):
    from flows.cli import main

    sys.path.insert(0, str(Path(__file__).parent))
    from test_resume import write_config

    config = write_config(tmp_path, tmp_path / "lake", tmp_path / "no-model-needed")
    started = time.monotonic()
    code = main(["run", str(config), "--set", "model=smollm2-135m-instruct", "--set",
                 f"executor={{type: ray, address: '127.0.0.1:{free_port()}', connect_timeout_s: 2}}"])
    assert code == 2 and time.monotonic() - started < 20
    assert "no Ray cluster answers" in capsys.readouterr().err
    assert not (tmp_path / "lake" / "catalog.ducklake").exists()


@pytest.mark.slow
def test_curate_run_on_ray_gives_the_rows_of_a_local_run(ray_head, tmp_path):
    from flows.config import load_config
    from flows.curate import run_curation

    sys.path.insert(0, str(Path(__file__).parent))
    from test_resume import rigged_model, rows_of, write_config

    model = rigged_model(tmp_path / "rigged-llama")
    local = load_config(write_config(tmp_path / "local", tmp_path / "local" / "lake", model, n=8))
    on_ray = load_config(write_config(tmp_path / "ray", tmp_path / "ray" / "lake", model, n=8,
                                      executor={"type": "ray", "address": ray_head, "workers": 2}))
    run_curation(local)
    summary = run_curation(on_ray)
    assert dict((n, c) for n, _, c in summary.stages)["generate"]["generated_now"] == 32
    assert rows_of(Lake(on_ray.lake)) == rows_of(Lake(local.lake))
