"""The sample store: what it takes from the lake and from staging, once each, and what it counts."""

import pyarrow as pa

from curation.backends.base import Completion, GenerationBackend, Sampling
from curation.generate import PromptFormat, SampleIdentity, generate_table
from flows.sample_store import SampleStore

SAMPLING = Sampling(k=2)


class Echo(GenerationBackend):
    model_name = "echo"

    def generate(self, conversations, n, sampling, **kwargs):
        return [[Completion(f"{c[-1]['content']} #{j}", 2, "stop") for j in range(n)] for c in conversations]


def prompts(n: int) -> pa.Table:
    return pa.table({"prompt_id": [f"p{i}" for i in range(n)], "prompt": [f"q{i}" for i in range(n)]})


def store_for(lake) -> SampleStore:
    return SampleStore(lake, prompts(3), SampleIdentity.of(Echo(), PromptFormat(), SAMPLING))


def test_lake_rows_and_staged_shards_are_taken_once_each(lake):
    lake.commit({"generations": generate_table(Echo(), prompts(2), PromptFormat(), SAMPLING)}, run_id="r")
    store = store_for(lake)
    # a crash after the generate commit but before staging was cleared: p0, p1 staged and in the lake
    store.stage.write(generate_table(Echo(), prompts(3), PromptFormat(), SAMPLING))
    store = store_for(lake)
    assert store.pending(prompts(3), range(2)) == {}
    taken = store.take(prompts(3), range(2))
    assert sorted(taken.column("generation_id").to_pylist()) == sorted(set(taken.column("generation_id").to_pylist()))
    assert taken.num_rows == 6 and (store.counts.reused, store.counts.resumed) == (4, 2)
    store.take(prompts(3), range(2))
    assert (store.counts.reused, store.counts.resumed) == (4, 2), "a sample is counted once"


def test_pending_groups_prompts_by_missing_indices_and_counts_why(lake):
    lake.commit({"generations": generate_table(Echo(), prompts(1), PromptFormat(), SAMPLING,
                                               sample_indices=range(1))}, run_id="r")
    store = store_for(lake)
    work = store.pending(prompts(3), range(2))
    assert work == {(1,): [0], (0, 1): [1, 2]}
    store.note_generating(prompts(3), work)
    assert store.counts.generated == 5 and store.counts.why == {"new: never sampled before": 5}
