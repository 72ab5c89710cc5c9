"""Generation shards: how pending samples are cut into shards, and how one shard is sampled and staged.

Shared by the local path (flows/generation.py) and the Ray workers (flows/executor.py).
"""

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation import generate
from curation.backends.base import Sampling
from flows.staging import GenerationStage

Shard = tuple[tuple[int, ...], list[int]]  # (sample indices still missing, prompt row numbers)


def cut_shards(work: dict[tuple, list[int]], shard_size: int) -> list[Shard]:
    """Pending work {sample indices: rows} cut into shards of at most shard_size prompts."""
    return [(tuple(indices), rows[start:start + shard_size])
            for indices, rows in work.items() for start in range(0, len(rows), shard_size)]


@task(name="generate", cache_policy=NO_CACHE)
def generate_shard(backend, prompts: pa.Table, cfg, sampling: Sampling,
                   indices: list[int], stage: GenerationStage, advance) -> pa.Table:
    """Sample one shard and stage it at once, so a crash loses at most this shard."""
    runs = contiguous_runs(indices)
    tables = [generate.generate_table(backend, prompts, cfg.prompt_format, sampling,
                                      sample_indices=run, shard_size=cfg.shard_size,
                                      progress=(lambda n: advance(n)) if run is runs[-1] else None)
              for run in runs]
    table = pa.concat_tables(tables)
    stage.write(table)
    return table


def contiguous_runs(indices: list[int]) -> list[range]:
    """[0, 1, 2, 5] -> [range(0, 3), range(5, 6)]: the backend samples a range of indices at once."""
    runs: list[range] = []
    for i in sorted(indices):
        if runs and runs[-1].stop == i:
            runs[-1] = range(runs[-1].start, i + 1)
        else:
            runs.append(range(i, i + 1))
    return runs
