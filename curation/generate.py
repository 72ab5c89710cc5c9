"""warmstart's generate stage: prompts in, k sampled responses per prompt out (a generations table)."""

from collections.abc import Callable

import pyarrow as pa
from pydantic import Field

from curation.backends.base import GenerationBackend, Sampling
from schemas.config import StrictModel
from schemas.errors import InputError, ModelError
from schemas.ids import content_id
from schemas.tables import TABLES

DEFAULT_SUFFIX = "\n\nGive the final answer after 'Answer:'."


class PromptFormat(StrictModel):
    """How a prompt's text becomes a chat: the same format for generation, SFT, DPO and RL."""

    system: str | None = Field(None, description="system message; None keeps the chat template's default")
    suffix: str = Field(DEFAULT_SUFFIX, description="appended to every prompt's text")

    def user_text(self, prompt: str) -> str:
        """The user message for a prompt."""
        return prompt + self.suffix


def conversation(prompt: str, fmt: PromptFormat) -> list[dict]:
    """The chat sent to the model: the system message if set, then prompt + suffix."""
    messages = [{"role": "system", "content": fmt.system}] if fmt.system is not None else []
    return messages + [{"role": "user", "content": fmt.user_text(prompt)}]


def generation_id(prompt_id: str, model: str, sampling: Sampling, sample_index: int) -> str:
    """Stable id of one sample: the same prompt, model, settings and index give the same id."""
    return content_id(prompt_id, model, sampling.record(), sample_index)


def output_schema(table_name: str) -> pa.Schema:
    """A lake table's schema without run_id, which the lake fills at commit."""
    return pa.schema([field for field in TABLES[table_name].schema if field.name != "run_id"])


def generate_table(backend: GenerationBackend, prompts: pa.Table, fmt: PromptFormat,
                   sampling: Sampling, *, sample_indices: range | None = None, shard_size: int = 256,
                   want_entropy: bool = False,
                   progress: Callable[[int], None] | None = None) -> pa.Table:
    """Sample len(sample_indices) responses (default range(sampling.k)) for every prompt.

    Returns a generations table (no run_id); with want_entropy an extra `mean_entropy` column,
    which the lake drops. progress(prompts_done) is called as backend batches finish.
    """
    indices = sample_indices if sample_indices is not None else range(sampling.k)
    if len(indices) == 0:
        raise InputError("sample_indices is empty: nothing to generate")
    for column in ("prompt_id", "prompt"):
        if column not in prompts.column_names:
            raise InputError("prompts table has no such column", field=column)
    # samples drawn later (indices from a raised k) must not repeat the first draw on seeded backends
    draw = sampling if indices.start == 0 else sampling.model_copy(
        update={"seed": int(content_id(sampling.seed, indices.start), 16) % 2**31})
    rows = {name: [] for name in output_schema("generations").names + ["mean_entropy"]}
    prompt_ids, texts = prompts.column("prompt_id").to_pylist(), prompts.column("prompt").to_pylist()
    for start in range(0, len(prompt_ids), shard_size):
        shard_ids = prompt_ids[start:start + shard_size]
        chats = [conversation(text, fmt) for text in texts[start:start + shard_size]]
        report = None if progress is None else (lambda done, offset=start: progress(offset + done))
        outputs = backend.generate(chats, len(indices), draw, want_entropy=want_entropy, progress=report)
        if len(outputs) != len(chats):
            raise ModelError(f"backend {backend.model_name} returned {len(outputs)} results "
                             f"for {len(chats)} prompts")
        for prompt_id, completions in zip(shard_ids, outputs):
            if len(completions) != len(indices):
                raise ModelError(f"backend {backend.model_name} returned {len(completions)} "
                                 f"completions for prompt {prompt_id}, expected {len(indices)}")
            for sample_index, completion in zip(indices, completions):
                _append(rows, prompt_id, backend.model_name, sampling, sample_index, completion)
    if not want_entropy:
        del rows["mean_entropy"]
    schema = output_schema("generations")
    if want_entropy:
        schema = schema.append(pa.field("mean_entropy", pa.float64()))
    return pa.Table.from_pydict(rows, schema=schema)


def _append(rows: dict, prompt_id: str, model: str, sampling: Sampling, sample_index: int,
            completion) -> None:
    rows["generation_id"].append(generation_id(prompt_id, model, sampling, sample_index))
    rows["prompt_id"].append(prompt_id)
    rows["model"].append(model)
    rows["sampling"].append(sampling.record())
    rows["sample_index"].append(sample_index)
    rows["response"].append(completion.text)
    rows["n_tokens"].append(completion.n_tokens)
    rows["finish_reason"].append(completion.finish_reason)
    rows["mean_entropy"].append(completion.mean_entropy)
