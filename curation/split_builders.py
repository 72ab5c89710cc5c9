"""Training splits: warm-up SFT examples (S3FT: own correct answer, gold otherwise) and RL prompts."""

from collections import defaultdict
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from curation.generate import PromptFormat, conversation, output_schema
from schemas.config import StrictModel
from schemas.errors import InputError
from schemas.ids import content_id


class SFTConfig(StrictModel):
    """Which assistant turns become SFT targets."""

    prefer: Literal["self", "gold"] = Field(
        "self", description="self: the model's own verified-correct responses (S3FT); gold: the gold answer")
    gold_fallback: bool = Field(True, description="with prefer=self, use gold when no sample is correct")
    per_prompt: int = Field(1, ge=1, description="distinct correct responses per prompt, shortest first")
    gold_template: str = Field("Answer: {answer}", description="assistant text built from the gold answer")
    require_stop: bool = Field(True, description="only self responses that stopped before max_tokens")

    @field_validator("gold_template")
    @classmethod
    def _fills(cls, template: str) -> str:
        try:
            template.format(answer="42")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"gold_template must use only {{answer}}: {exc!r}") from None
        return template


def sft_examples(prompts: pa.Table, generations: pa.Table, verdicts: pa.Table, fmt: PromptFormat,
                 cfg: SFTConfig) -> pa.Table:
    """One or more chat examples per train prompt: the generation conversation + an assistant turn."""
    correct = correct_responses(generations, verdicts, require_stop=cfg.require_stop)
    rows = {name: [] for name in output_schema("sft_examples").names}
    for prompt in train_prompts(prompts):
        own = correct.get(prompt["prompt_id"], [])[:cfg.per_prompt]
        gold = [] if prompt["answer"] is None else [cfg.gold_template.format(answer=prompt["answer"])]
        if cfg.prefer == "gold":
            targets = [("gold", text) for text in gold] or [("self", text) for text in own]
        else:
            targets = [("self", text) for text in own] or [
                ("gold", text) for text in gold if cfg.gold_fallback]
        for origin, text in targets:
            messages = conversation(prompt["prompt"], fmt) + [{"role": "assistant", "content": text}]
            rows["example_id"].append(content_id(prompt["prompt_id"], origin, text))
            rows["prompt_id"].append(prompt["prompt_id"])
            rows["messages"].append(messages)
            rows["origin"].append(origin)
    return pa.Table.from_pydict(rows, schema=output_schema("sft_examples"))


class RLConfig(StrictModel):
    """Settings of the RL prompt split."""

    curriculum_stage: int = Field(0, ge=0, description="stage written on every row (curriculum.py refines)")


def rl_prompts(prompts: pa.Table, kept_stats: pa.Table, fmt: PromptFormat, cfg: RLConfig) -> pa.Table:
    """The RL split: kept prompts with their pass rate; `prompt` is the user text used in generation."""
    pass_rate: dict[str, float] = {}
    for prompt_id, rate in zip(kept_stats["prompt_id"].to_pylist(), kept_stats["pass_rate"].to_pylist()):
        if prompt_id in pass_rate:
            raise InputError(f"prompt_stats has prompt {prompt_id} more than once (several models?); "
                             "pass one model's stats")
        pass_rate[prompt_id] = rate
    rows = {name: [] for name in output_schema("rl_prompts").names}
    for prompt in train_prompts(prompts):
        if prompt["prompt_id"] not in pass_rate:
            continue
        values = dict(prompt_id=prompt["prompt_id"], task=prompt["task"],
                      prompt=fmt.user_text(prompt["prompt"]), answer=prompt["answer"],
                      verifier=prompt["verifier"], metadata=prompt["metadata"],
                      pass_rate=pass_rate[prompt["prompt_id"]], curriculum_stage=cfg.curriculum_stage)
        for name, value in values.items():
            rows[name].append(value)
    return pa.Table.from_pydict(rows, schema=output_schema("rl_prompts"))


def train_prompts(prompts: pa.Table) -> list[dict]:
    """Prompt rows that may enter a split: split_guard "eval" never does."""
    if "split_guard" not in prompts.column_names:
        raise InputError("prompts table has no such column", field="split_guard")
    return [row for row in prompts.to_pylist() if row["split_guard"] != "eval"]


def correct_responses(generations: pa.Table, verdicts: pa.Table, *,
                      require_stop: bool) -> dict[str, list[str]]:
    """prompt_id -> distinct verified-correct response texts, shortest first (ties by text)."""
    # select in Arrow: only the correct responses become Python strings
    correct_ids = verdicts.filter(pc.fill_null(verdicts["correct"], False))["generation_id"]
    keep = pc.is_in(generations["generation_id"], value_set=pc.unique(correct_ids.combine_chunks()))
    if require_stop:
        keep = pc.and_(keep, pc.invert(pc.fill_null(pc.equal(generations["finish_reason"], "length"), False)))
    found: dict[str, set[str]] = defaultdict(set)
    for gen in generations.filter(keep).select(["prompt_id", "response"]).to_pylist():
        found[gen["prompt_id"]].add(gen["response"])
    return {pid: sorted(texts, key=lambda text: (len(text), text)) for pid, texts in found.items()}
