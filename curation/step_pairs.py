"""Step-level preference pairs (iTool): find the step where an incorrect response goes wrong.

For a prompt with both correct and incorrect samples, an incorrect response is cut into steps;
continuations are re-sampled from several step prefixes (the backend's `prefixes=`) and
verified, which estimates each prefix's success rate (a Monte Carlo value, as in iTool's MCTS
expansion). Every value goes to the lake (`step_values`). The step where the value drops most
(by at least `min_drop`) is where the response goes wrong: there the best continuation (a
verified-correct rollout) is chosen and the response's own continuation rejected. Both share the
prefix, so DPO's loss sees only the step-level difference. Prompts without a verifier can get
pairs from an LLM judge instead (curation/judge.py).
"""

import json
import re
from collections import defaultdict

import pyarrow as pa
from pydantic import Field

from curation.backends.base import GenerationBackend, Sampling
from curation.generate import PromptFormat, conversation, output_schema
from curation.split_builders import train_prompts
from curation.verifiers import verify
from schemas.config import StrictModel
from schemas.ids import content_id
from schemas.tables import step_schema

_BREAK = re.compile(r"(?<=\n)|(?<=[.!?])(?=[ \t]+[A-Z0-9(])")


class StepPairConfig(StrictModel):
    """Step splitting and prefix re-sampling."""

    max_steps: int = Field(8, ge=2, le=64, description="a response is cut into at most this many steps")
    min_step_chars: int = Field(16, ge=1, description="shorter pieces join the next step")
    max_prefixes: int = Field(4, ge=1, le=32, description="prefixes probed per incorrect response")
    rollouts: int = Field(4, ge=1, le=64, description="continuations sampled per prefix")
    min_drop: float = Field(0.25, gt=0.0, le=1.0, description="least value drop that marks a wrong step")
    responses_per_prompt: int = Field(1, ge=1, description="incorrect responses probed per prompt")
    temperature: float = Field(0.8, ge=0.0, description="sampling temperature of the rollouts")
    max_tokens: int = Field(256, ge=1, description="most tokens per rollout")
    seed: int = Field(0, ge=0)


def split_steps(text: str, max_steps: int = 8, min_step_chars: int = 16) -> list[str]:
    """Cut a response at line breaks and sentence ends into at most max_steps steps; the steps
    join back to the exact text."""
    pieces = [p for p in _BREAK.split(text) if p]
    steps: list[str] = []
    for piece in pieces:
        if steps and len(steps[-1].strip()) < min_step_chars:
            steps[-1] += piece
        else:
            steps.append(piece)
    if len(steps) > 1 and len(steps[-1].strip()) < min_step_chars:
        steps[-2:] = [steps[-2] + steps[-1]]
    while len(steps) > max_steps:  # merge the shortest adjacent pair
        i = min(range(len(steps) - 1), key=lambda j: len(steps[j]) + len(steps[j + 1]))
        steps[i:i + 2] = [steps[i] + steps[i + 1]]
    assert "".join(steps) == text
    return steps


def probe_points(n_steps: int, max_prefixes: int) -> list[int]:
    """Prefix lengths (in steps, 1..n_steps-1) to probe, evenly spread."""
    inner = list(range(1, n_steps))
    if len(inner) <= max_prefixes:
        return inner
    return sorted({inner[round(i * (len(inner) - 1) / (max_prefixes - 1))] for i in range(max_prefixes)}) \
        if max_prefixes > 1 else [inner[len(inner) // 2]]


def largest_drop(values: list[tuple[int, float]], min_drop: float) -> int | None:
    """The prefix length after which the value drops most (at least min_drop; ties: the earliest);
    values are (length, success rate) in order, ending with the full incorrect response at 0."""
    best, best_drop = None, min_drop
    for (j, v), (_, v_next) in zip(values, values[1:]):
        if v - v_next >= best_drop and (best is None or v - v_next > best_drop):
            best, best_drop = j, v - v_next
    return best


def _candidates(prompts: pa.Table, generations: pa.Table, verdicts: pa.Table, cfg: StepPairConfig):
    """(prompt row, (n correct, n samples), incorrect generations) for train prompts with both outcomes."""
    correct = dict(zip(verdicts.column("generation_id").to_pylist(), verdicts.column("correct").to_pylist()))
    by_prompt = defaultdict(list)
    columns = ["generation_id", "prompt_id", "sample_index", "response", "finish_reason"]
    for g in generations.select(columns).to_pylist():
        if g["generation_id"] in correct:
            by_prompt[g["prompt_id"]].append({**g, "correct": bool(correct[g["generation_id"]])})
    for prompt in train_prompts(prompts):
        samples = sorted(by_prompt.get(prompt["prompt_id"], []), key=lambda s: s["sample_index"])
        wrong = [s for s in samples if not s["correct"] and s["finish_reason"] != "length"]
        n_right = sum(s["correct"] for s in samples)
        if prompt.get("verifier") and n_right and wrong:
            yield prompt, (n_right, len(samples)), wrong[: cfg.responses_per_prompt]


def step_pairs(backend: GenerationBackend, prompts: pa.Table, generations: pa.Table, verdicts: pa.Table,
               fmt: PromptFormat, cfg: StepPairConfig, *, progress=None) -> tuple[pa.Table, pa.Table]:
    """(preference_pairs with pair_kind 'step', step_values: the Monte Carlo value of every probed
    prefix, the empty one (the prompt's pass rate) and the full response (0)). One backend call
    samples all rollouts."""
    probes = []  # (response generation, prefix length)
    roots = {}
    for prompt, outcomes, wrong in _candidates(prompts, generations, verdicts, cfg):
        for gen in wrong:
            steps = split_steps(gen["response"], cfg.max_steps, cfg.min_step_chars)
            roots[gen["generation_id"]] = (prompt, steps, outcomes)
            probes += [(gen["generation_id"], j) for j in probe_points(len(steps), cfg.max_prefixes)]
    sampling = Sampling(k=cfg.rollouts, temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed)
    chats = [conversation(roots[gid][0]["prompt"], fmt) for gid, _ in probes]
    prefixes = ["".join(roots[gid][1][:j]) for gid, j in probes]
    outputs = (backend.generate(chats, cfg.rollouts, sampling, prefixes=prefixes, progress=progress)
               if probes else [])
    rollouts = defaultdict(dict)  # generation_id -> prefix length -> [(continuation, correct)]
    for (gid, j), prefix, completions in zip(probes, prefixes, outputs):
        prompt = roots[gid][0]
        meta = json.loads(prompt["metadata"]) if prompt.get("metadata") else {}
        rollouts[gid][j] = [(c.text, verify(prompt["verifier"], prefix + c.text, prompt["answer"], meta,
                                            question=prompt["prompt"]).correct) for c in completions]
    pairs, values = [], []
    for gid, (prompt, steps, outcomes) in roots.items():
        # (prefix length, n_correct, n): the empty prefix is the prompt's own k samples, the whole
        # response is the one verified-incorrect sample
        counts = [(0, *outcomes)] + [(j, sum(ok for _, ok in r), len(r)) for j, r in sorted(rollouts[gid].items())]
        counts.append((len(steps), 0, 1))
        curve = [(j, right / n) for j, right, n in counts]
        split_at = largest_drop(curve, cfg.min_drop)
        values += [_value_row(prompt["prompt_id"], gid, steps, j, right, n, j == split_at) for j, right, n in counts]
        if split_at:  # at 0 it is an ordinary outcome pair, which preference.py already makes
            pairs.append(_pair(prompt, fmt, steps, split_at, rollouts[gid][split_at]))
    rows = [p for p in pairs if p is not None]
    return (pa.Table.from_pylist(rows, schema=output_schema("preference_pairs")),
            pa.Table.from_pylist(values, schema=step_schema("step_values")))


def _value_row(prompt_id: str, gid: str, steps: list[str], j: int, right: int, n: int, divergence: bool) -> dict:
    prefix = "".join(steps[:j])
    return {"prompt_id": prompt_id, "generation_id": gid, "prefix_steps": j, "n_steps": len(steps),
            "prefix_chars": len(prefix), "prefix_hash": content_id("prefix", prefix), "n_rollouts": n,
            "n_correct": right, "value": right / n, "divergence": divergence}


def _pair(prompt: dict, fmt: PromptFormat, steps: list[str], split_at: int, rolled: list) -> dict | None:
    prefix = "".join(steps[:split_at])
    good = sorted((text for text, ok in rolled if ok), key=len)
    if not good:
        return None
    chosen, rejected = prefix + good[0], "".join(steps)
    return {"pair_id": content_id("step", prompt["prompt_id"], chosen, rejected), "prompt_id": prompt["prompt_id"],
            "prompt": fmt.user_text(prompt["prompt"]), "chosen": chosen, "rejected": rejected,
            "chosen_score": 1.0, "rejected_score": 0.0, "pair_kind": "step"}
