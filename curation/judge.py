"""LLM-judge preference pairs for prompts without a verifier or gold answer.

The judge (the policy itself, or its own `model` on its own `backend`, loaded once per run) sees
every pair of up to `max_responses` distinct responses of a prompt, in both presentation orders
(against position bias), `votes` times each. A response's score is its share of the parsed votes
over all its comparisons (a round robin). A pair is kept when the judge preferred its chosen
response in at least `margin` of their direct comparison's votes; per prompt the pairs with the
widest score gap are kept, best first.
"""

import re
from collections import defaultdict
from itertools import combinations
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, model_validator

from curation.backends.base import GenerationBackend, Sampling
from curation.generate import PromptFormat, output_schema
from curation.split_builders import train_prompts
from schemas.config import StrictModel
from schemas.ids import content_id

POLICY = "policy"  # judge.model: the model being curated, through the run's own engine
JUDGE_TEMPLATE = ("Question:\n{question}\n\nResponse A:\n{a}\n\nResponse B:\n{b}\n\nWhich response answers the "
                  "question better and more correctly? Reply with one letter: A or B.")


class JudgeConfig(StrictModel):
    """LLM-judge pairs for prompts without a verifier: which model judges, and how."""

    model: str = Field(POLICY, description="'policy' (the model being curated, its engine reused) or a "
                                           "prepared model name / path / served name, loaded once")
    backend: Literal["vllm", "transformers", "openai"] | None = Field(
        None, description="engine of a separate judge model; null: the curate run's backend")
    backend_options: dict[str, Any] = Field(default_factory=dict, description="options of that engine")
    max_responses: int = Field(4, ge=2, le=16, description="distinct responses per prompt, every pair compared")
    max_pairs_per_prompt: int = Field(1, ge=1, description="pairs kept per prompt, widest score gap first")
    votes: int = Field(2, ge=1, le=16, description="judgements per presentation order")
    margin: float = Field(0.75, gt=0.5, le=1.0, description="share of a comparison's parsed votes the winner needs")
    temperature: float = Field(0.7, ge=0.0)
    max_tokens: int = Field(8, ge=1, description="most tokens of a judgement")
    response_chars: int = Field(2000, ge=100, description="responses shown to the judge are cut to this")
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _engine_needs_a_model(self):
        if self.model == POLICY and (self.backend is not None or self.backend_options):
            raise ValueError("backend / backend_options set a separate judge's engine: also set judge.model")
        return self


def parse_judgement(text: str) -> str | None:
    """'A' or 'B' from a judge reply ("Response B", "B.", "**A**"); None when unclear."""
    named = re.findall(r"response\s*\(?([AB])\b", text, flags=re.IGNORECASE)
    if len({letter.upper() for letter in named}) == 1:
        return named[0].upper()
    lead = re.match(r"^\W*([AB])(?:[.:)\]*]|\s*$)", text)
    if lead:
        return lead.group(1)
    letters = set(re.findall(r"\b([AB])\b", text))
    return letters.pop() if len(letters) == 1 else None


def _responses(prompts: pa.Table, generations: pa.Table, cfg: JudgeConfig) -> list[tuple[dict, list[str]]]:
    """(prompt, its first max_responses distinct responses) for train prompts without a verifier
    or a gold answer and with at least two responses."""
    texts = defaultdict(list)
    for g in sorted(generations.select(["prompt_id", "sample_index", "response"]).to_pylist(),
                    key=lambda g: (g["prompt_id"], g["sample_index"])):
        if g["response"] and g["response"] not in texts[g["prompt_id"]]:
            texts[g["prompt_id"]].append(g["response"])
    return [(p, texts[p["prompt_id"]][:cfg.max_responses]) for p in train_prompts(prompts)
            if (not p.get("verifier") or p.get("answer") is None) and len(texts[p["prompt_id"]]) >= 2]


def judge_pairs(judge: GenerationBackend, prompts: pa.Table, generations: pa.Table, fmt: PromptFormat,
                cfg: JudgeConfig) -> pa.Table:
    """Preference pairs (pair_kind 'judge') from a round robin of the judge over each prompt's
    responses; one backend call for every comparison of the run."""
    todo = _responses(prompts, generations, cfg)
    cut, chats, matches = cfg.response_chars, [], []
    for n, (prompt, texts) in enumerate(todo):
        for i, j in combinations(range(len(texts)), 2):
            matches.append((n, i, j))
            for a, b in ((texts[i], texts[j]), (texts[j], texts[i])):
                chats.append([{"role": "user", "content": JUDGE_TEMPLATE.format(
                    question=prompt["prompt"], a=a[:cut], b=b[:cut])}])
    sampling = Sampling(k=cfg.votes, temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed)
    outputs = judge.generate(chats, cfg.votes, sampling) if chats else []
    votes = defaultdict(dict)  # prompt index -> (i, j) -> (votes for i, parsed votes)
    for m, (n, i, j) in enumerate(matches):
        straight = [parse_judgement(c.text) for c in outputs[2 * m]]
        swapped = [parse_judgement(c.text) for c in outputs[2 * m + 1]]
        for_i = straight.count("A") + swapped.count("B")
        votes[n][(i, j)] = (for_i, for_i + straight.count("B") + swapped.count("A"))
    rows = []
    for n, (prompt, texts) in enumerate(todo):
        rows += _prompt_pairs(prompt, texts, votes[n], fmt, cfg)
    return pa.Table.from_pylist(rows, schema=output_schema("preference_pairs"))


def round_robin_scores(n_responses: int, votes: dict[tuple[int, int], tuple[int, int]]) -> list[float]:
    """Each response's share of the parsed votes over all its comparisons (0.5 when none parsed)."""
    won, seen = [0] * n_responses, [0] * n_responses
    for (i, j), (for_i, parsed) in votes.items():
        won[i], won[j] = won[i] + for_i, won[j] + parsed - for_i
        seen[i], seen[j] = seen[i] + parsed, seen[j] + parsed
    return [w / s if s else 0.5 for w, s in zip(won, seen)]


def _prompt_pairs(prompt: dict, texts: list[str], votes: dict, fmt: PromptFormat, cfg: JudgeConfig) -> list[dict]:
    """The decisive comparisons of one prompt as pairs, widest round-robin score gap first."""
    score = round_robin_scores(len(texts), votes)
    decisive = []
    for (i, j), (for_i, parsed) in votes.items():
        if parsed and max(for_i, parsed - for_i) >= cfg.margin * parsed:
            win, lose = (i, j) if for_i * 2 > parsed else (j, i)
            decisive.append((score[lose] - score[win], win, lose))
    rows = []
    for _, win, lose in sorted(decisive)[:cfg.max_pairs_per_prompt]:
        chosen, rejected = texts[win], texts[lose]
        rows.append({"pair_id": content_id("judge", prompt["prompt_id"], chosen, rejected),
                     "prompt_id": prompt["prompt_id"], "prompt": fmt.user_text(prompt["prompt"]),
                     "chosen": chosen, "rejected": rejected, "chosen_score": score[win],
                     "rejected_score": score[lose], "pair_kind": "judge"})
    return rows
