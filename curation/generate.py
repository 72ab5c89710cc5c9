"""warmstart's generate stage: prompts in, k sampled responses per prompt out (a generations table)."""

from collections.abc import Callable

import pyarrow as pa

from curation.backends.base import GenerationBackend, Sampling
from curation.prompt_format import DEFAULT_SUFFIX, PromptFormat, conversation
from curation.sample_identity import SampleIdentity, request_seed
from schemas.errors import InputError, ModelError
from schemas.ids import content_id
from schemas.tables import TABLES

__all__ = ["DEFAULT_SUFFIX", "PromptFormat", "SampleIdentity", "conversation", "generate_table", "output_schema"]


def output_schema(table_name: str) -> pa.Schema:
    """A lake table's schema without run_id, which the lake fills at commit."""
    return pa.schema([field for field in TABLES[table_name].schema if field.name != "run_id"])


def generate_table(backend: GenerationBackend, prompts: pa.Table, fmt: PromptFormat,
                   sampling: Sampling, *, sample_indices: range | None = None, shard_size: int = 256,
                   want_entropy: bool = False,
                   progress: Callable[[int], None] | None = None) -> pa.Table:
    """Sample len(sample_indices) responses (default range(sampling.k)) for every prompt.

    Every row carries its SampleIdentity; on a backend with per-request seeds each sample is drawn
    from its own id's seed (recorded in `seed`), else from the engine's seed (`seed` NULL).
    Returns a generations table (no run_id); with want_entropy an extra `mean_entropy` column,
    which the lake drops. progress(prompts_done) is called as backend batches finish.
    """
    indices = sample_indices if sample_indices is not None else range(sampling.k)
    if len(indices) == 0:
        raise InputError("sample_indices is empty: nothing to generate")
    for column in ("prompt_id", "prompt"):
        if column not in prompts.column_names:
            raise InputError("prompts table has no such column", field=column)
    identity = SampleIdentity.of(backend, fmt, sampling)
    seeded = backend.supports_request_seeds
    # without request seeds, samples drawn later (indices from a raised k) must not repeat the first draw
    draw = sampling if seeded or indices.start == 0 else sampling.model_copy(
        update={"seed": int(content_id(sampling.seed, indices.start), 16) % 2**31})
    rows = {name: [] for name in output_schema("generations").names + ["mean_entropy"]}
    identity_columns = identity.columns()  # the same on every row
    prompt_ids, texts = prompts.column("prompt_id").to_pylist(), prompts.column("prompt").to_pylist()
    for start in range(0, len(prompt_ids), shard_size):
        shard = list(zip(prompt_ids[start:start + shard_size], texts[start:start + shard_size]))
        ids = [[identity.generation_id(pid, text, i) for i in indices] for pid, text in shard]
        seeds = [[request_seed(gid) for gid in row] for row in ids] if seeded else None
        report = None if progress is None else (lambda done, offset=start: progress(offset + done))
        outputs = backend.generate([conversation(text, fmt) for _, text in shard], len(indices), draw,
                                   want_entropy=want_entropy, progress=report,
                                   **({"seeds": seeds} if seeded else {}))
        if len(outputs) != len(shard):
            raise ModelError(f"backend {backend.model_name} returned {len(outputs)} results "
                             f"for {len(shard)} prompts")
        for row, ((prompt_id, _), completions) in enumerate(zip(shard, outputs)):
            if len(completions) != len(indices):
                raise ModelError(f"backend {backend.model_name} returned {len(completions)} "
                                 f"completions for prompt {prompt_id}, expected {len(indices)}")
            for j, (sample_index, completion) in enumerate(zip(indices, completions)):
                _append(rows, identity_columns, ids[row][j], prompt_id, backend.model_name, sample_index, completion,
                        seeds[row][j] if seeds else None)
    if not want_entropy:
        del rows["mean_entropy"]
    schema = output_schema("generations")
    if want_entropy:
        schema = schema.append(pa.field("mean_entropy", pa.float64()))
    return pa.Table.from_pydict(rows, schema=schema)


def _append(rows: dict, identity_columns: dict[str, str], generation_id: str, prompt_id: str, model: str,
            sample_index: int, completion, seed: int | None) -> None:
    values = dict(generation_id=generation_id, prompt_id=prompt_id, model=model, sample_index=sample_index,
                  response=completion.text, n_tokens=completion.n_tokens, finish_reason=completion.finish_reason,
                  mean_entropy=completion.mean_entropy, seed=seed, **identity_columns)
    for name, value in values.items():
        rows[name].append(value)
