import json

import pyarrow as pa
import pytest

from curation.backends import Completion, GenerationBackend, Sampling, load_backend
from curation.generate import PromptFormat, SampleIdentity, conversation, generate_table
from curation.sample_identity import request_seed
from schemas.errors import ConfigError, InputError, ModelError
from schemas.ids import content_id
from schemas.tables import TABLES


class CannedBackend(GenerationBackend):
    """Answers 'Answer: <sample number>' and remembers what it was asked."""

    model_name = "canned"

    def __init__(self, per_prompt=None):
        self.calls, self.per_prompt = [], per_prompt

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        self.calls.append({"conversations": conversations, "n": n, "seed": sampling.seed})
        count = self.per_prompt or n
        results = [[Completion(f"Answer: {i}", 3 + i, "stop" if i else "length", 0.5 if want_entropy else None)
                    for i in range(count)] for _ in conversations]
        if progress:
            progress(len(conversations))
        return results


class SeededCanned(CannedBackend):
    """CannedBackend that takes per-request seeds and answers with them."""

    supports_request_seeds = True

    def generate(self, conversations, n, sampling, *, seeds=None, **kwargs):
        self.calls.append({"conversations": conversations, "n": n, "seeds": seeds})
        return [[Completion(f"Answer: {seed}", 3, "stop") for seed in row] for row in seeds]


def _prompts(count=5):
    return pa.table({"prompt_id": [f"p{i}" for i in range(count)], "prompt": [f"{i}+1?" for i in range(count)]})


def test_conversation_and_ids():
    assert conversation("2+2?", PromptFormat()) == [
        {"role": "user", "content": "2+2?\n\nGive the final answer after 'Answer:'."}]
    assert conversation("q", PromptFormat(system="S", suffix="!")) == [
        {"role": "system", "content": "S"}, {"role": "user", "content": "q!"}]
    sampling = Sampling(temperature=0.7, max_tokens=32)
    identity = SampleIdentity.of(CannedBackend(), PromptFormat(), sampling)
    assert identity.sampling == sampling.record()
    gid = identity.generation_id("p", "2+2?", 2)
    assert gid == content_id("p", "2+2?", identity.key, 2)
    assert SampleIdentity.of(CannedBackend(), PromptFormat(), sampling.model_copy(update={"k": 9})) == identity
    assert identity.generation_id("p", "2+2?", 3) != gid


def test_generation_id_covers_everything_that_changes_the_text():
    base = SampleIdentity("weights", "template", PromptFormat().fingerprint(), Sampling().record())
    gid = base.generation_id("p", "2+2?", 0)
    changed = [base.generation_id("p", "2+2?!", 0), base.generation_id("q", "2+2?", 0)]
    for name, value in {"model_fingerprint": "other weights", "chat_template": "other template",
                        "prompt_format": PromptFormat(suffix="!").fingerprint(),
                        "sampling": Sampling(temperature=0.1).record()}.items():
        changed.append(SampleIdentity(**{**base.columns(), name: value}).generation_id("p", "2+2?", 0))
    assert gid not in changed and len(set(changed)) == len(changed)
    assert PromptFormat(system="Be brief.").fingerprint() != PromptFormat().fingerprint()


def test_sampling_record_leaves_k_out():
    record = json.loads(Sampling(k=8, temperature=0.5, seed=3).record())
    assert record == {"temperature": 0.5, "top_p": 1.0, "max_tokens": 256, "seed": 3}
    with pytest.raises(ValueError):
        Sampling(k=0)


def test_generate_table_rows_ids_and_shards():
    backend, sampling, done = CannedBackend(), Sampling(k=3, max_tokens=16), []
    table = generate_table(backend, _prompts(5), PromptFormat(), sampling, shard_size=2, progress=done.append)
    assert table.schema.names == [f.name for f in TABLES["generations"].schema if f.name != "run_id"]
    assert table.num_rows == 15 and [len(c["conversations"]) for c in backend.calls] == [2, 2, 1]
    assert done == [2, 4, 5]
    first = table.to_pylist()[:3]
    assert [r["sample_index"] for r in first] == [0, 1, 2]
    assert [r["response"] for r in first] == ["Answer: 0", "Answer: 1", "Answer: 2"]
    assert [r["finish_reason"] for r in first] == ["length", "stop", "stop"]
    identity = SampleIdentity.of(backend, PromptFormat(), sampling)
    assert first[0]["generation_id"] == identity.generation_id("p0", "0+1?", 0)
    assert first[0]["sampling"] == sampling.record() and first[0]["model"] == "canned"
    assert {k: first[0][k] for k in identity.columns()} == identity.columns()
    assert first[0]["seed"] is None  # no per-request seeds: drawn from the engine's seed
    assert backend.calls[0]["conversations"][0] == conversation("0+1?", PromptFormat())


def test_backends_with_request_seeds_draw_each_sample_from_its_id():
    backend, sampling = SeededCanned(), Sampling(k=2)
    table = generate_table(backend, _prompts(3), PromptFormat(), sampling, shard_size=2)
    for row in table.to_pylist():
        assert row["seed"] == request_seed(row["generation_id"]) and row["response"] == f"Answer: {row['seed']}"
    later = generate_table(SeededCanned(), _prompts(3), PromptFormat(), sampling.model_copy(update={"k": 4}),
                           sample_indices=range(1, 3), shard_size=1)
    # a sample's seed is its own, whichever shard or range draws it
    assert set(table.filter(pa.compute.equal(table["sample_index"], 1))["response"].to_pylist()) == set(
        later.filter(pa.compute.equal(later["sample_index"], 1))["response"].to_pylist())


def test_raising_k_adds_new_samples_with_a_fresh_seed():
    sampling = Sampling(k=4, seed=5)
    first = generate_table(CannedBackend(), _prompts(2), PromptFormat(), sampling, sample_indices=range(2))
    later_backend = CannedBackend()
    later = generate_table(later_backend, _prompts(2), PromptFormat(), sampling, sample_indices=range(2, 4))
    full = generate_table(CannedBackend(), _prompts(2), PromptFormat(), sampling)
    assert set(first["generation_id"].to_pylist()) | set(later["generation_id"].to_pylist()) == set(
        full["generation_id"].to_pylist())
    assert later["sample_index"].to_pylist() == [2, 3, 2, 3]
    assert later_backend.calls[0]["seed"] != 5  # seeded backends must not redraw samples 0-1
    assert set(later["sampling"].to_pylist()) == {sampling.record()}


def test_generate_table_entropy_column_and_errors():
    table = generate_table(CannedBackend(), _prompts(1), PromptFormat(), Sampling(k=2), want_entropy=True)
    assert table["mean_entropy"].to_pylist() == [0.5, 0.5]
    with pytest.raises(InputError, match="empty"):
        generate_table(CannedBackend(), _prompts(1), PromptFormat(), Sampling(), sample_indices=range(0))
    with pytest.raises(ModelError, match="returned 1 completions for prompt p0, expected 2"):
        generate_table(CannedBackend(per_prompt=1), _prompts(1), PromptFormat(), Sampling(k=2))
    with pytest.raises(InputError, match="'prompt'"):
        generate_table(CannedBackend(), _prompts(1).drop_columns(["prompt"]), PromptFormat(), Sampling())


def test_load_backend_rejects_unknown_kinds_and_options(tiny_model_dir):
    with pytest.raises(ConfigError, match="unknown backend 'llamacpp'"):
        load_backend("llamacpp", tiny_model_dir)
    with pytest.raises(ConfigError, match="backend 'transformers' options: batchsize"):
        load_backend("transformers", tiny_model_dir, options={"batchsize": 4})


def test_vllm_missing_is_a_model_error_not_a_fallback(tiny_model_dir, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    with pytest.raises(ModelError, match="needs the vllm package"):
        load_backend("vllm", tiny_model_dir)
