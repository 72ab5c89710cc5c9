"""Outcome preference pairs for DPO: a verified-correct sample (chosen) vs an incorrect one (rejected)."""

import random
from collections import defaultdict

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from curation.generate import PromptFormat, output_schema
from curation.split_builders import train_prompts
from schemas.config import StrictModel
from schemas.ids import content_id


class PreferenceConfig(StrictModel):
    """How many pairs per prompt, and the seed that picks them."""

    max_pairs_per_prompt: int = Field(2, ge=1, description="most (chosen, rejected) pairs per prompt")
    seed: int = Field(0, ge=0, description="seed of the pair choice")
    chosen_require_stop: bool = Field(True, description="never choose a response cut at max_tokens")


def preference_pairs(prompts: pa.Table, generations: pa.Table, verdicts: pa.Table, fmt: PromptFormat,
                     cfg: PreferenceConfig) -> pa.Table:
    """Pairs for train prompts with both outcomes; distinct pairs, spread over distinct responses."""
    samples = _scored_samples(generations, verdicts)
    rows = {name: [] for name in output_schema("preference_pairs").names}
    for prompt in train_prompts(prompts):
        prompt_id = prompt["prompt_id"]
        chosen = _distinct([s for s in samples.get(prompt_id, []) if s["correct"]
                            and not (cfg.chosen_require_stop and s["finish_reason"] == "length")])
        # An empty response teaches nothing to contrast against (and trainers refuse it).
        rejected = _distinct([s for s in samples.get(prompt_id, []) if not s["correct"] and s["response"].strip()])
        if not chosen or not rejected:
            continue
        rng = random.Random(content_id(cfg.seed, prompt_id))  # per prompt: stable when others change
        rng.shuffle(chosen)
        rng.shuffle(rejected)
        for good, bad in _spread_pairs(chosen, rejected, cfg.max_pairs_per_prompt):
            values = dict(pair_id=content_id(prompt_id, good["response"], bad["response"]),
                          prompt_id=prompt_id, prompt=fmt.user_text(prompt["prompt"]),
                          chosen=good["response"], rejected=bad["response"], chosen_score=good["score"],
                          rejected_score=bad["score"], pair_kind="outcome")
            for name, value in values.items():
                rows[name].append(value)
    return pa.Table.from_pydict(rows, schema=output_schema("preference_pairs"))


def _spread_pairs(chosen: list, rejected: list, limit: int) -> list[tuple]:
    """Distinct pairs, diagonal by diagonal, so the first ones use distinct chosen and rejected."""
    pairs = []
    for shift in range(len(rejected)):
        for i, good in enumerate(chosen):
            if len(pairs) == limit:
                return pairs
            pairs.append((good, rejected[(i + shift) % len(rejected)]))
    return pairs


def _distinct(samples: list[dict]) -> list[dict]:
    """One sample per response text (the first by generation_id), in a stable order."""
    by_text = {}
    for sample in sorted(samples, key=lambda s: s["generation_id"]):
        by_text.setdefault(sample["response"], sample)
    return sorted(by_text.values(), key=lambda s: s["response"])


def _scored_samples(generations: pa.Table, verdicts: pa.Table) -> dict[str, list[dict]]:
    """prompt_id -> its judged samples, for prompts with a correct and an incorrect verdict only
    (the rest make no pair; selected in Arrow so they never become Python objects)."""
    judged = generations.select(["generation_id", "prompt_id"]).join(
        verdicts.select(["generation_id", "correct"]), "generation_id", use_threads=False)
    judged = judged.set_column(2, "correct", pc.fill_null(judged["correct"], False))
    outcomes = judged.group_by("prompt_id", use_threads=False).aggregate([("correct", "any"), ("correct", "all")])
    mixed = outcomes.filter(pc.and_(outcomes["correct_any"], pc.invert(outcomes["correct_all"])))["prompt_id"]
    generations = generations.filter(pc.is_in(generations["prompt_id"], value_set=mixed.combine_chunks()))
    verdicts = verdicts.filter(pc.is_in(verdicts["generation_id"],
                                        value_set=generations["generation_id"].combine_chunks()))
    verdict_rows = verdicts.select(["generation_id", "correct", "score"]).to_pylist()
    verdict_of = {row["generation_id"]: row for row in verdict_rows}
    samples: dict[str, list[dict]] = defaultdict(list)
    columns = ["generation_id", "prompt_id", "response", "finish_reason"]
    for gen in generations.select(columns).to_pylist():
        verdict = verdict_of.get(gen["generation_id"])
        if verdict is not None:
            samples[gen["prompt_id"]].append({**gen, "correct": bool(verdict["correct"]),
                                              "score": float(verdict["score"])})
    return samples
