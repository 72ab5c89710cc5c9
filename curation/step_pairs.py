"""Step-level preference pairs (iTool): find the step where an incorrect response goes wrong.

For a prompt with both correct and incorrect samples, an incorrect response is cut into steps;
continuations are re-sampled from several step prefixes (the backend's `prefixes=`) and
verified, which estimates each prefix's success rate (a Monte Carlo value, as in iTool's MCTS
expansion). The first step after which the value drops by `min_drop` is where the paths
diverge: there the best continuation (a verified-correct rollout) is chosen and the response's
own continuation rejected. Both share the prefix, so DPO's loss sees only the step-level
difference. Prompts without a verifier can get pairs from an LLM judge instead (`judge_pairs`).
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

_BREAK = re.compile(r"(?<=\n)|(?<=[.!?])(?=[ \t]+[A-Z0-9(])")


class StepPairConfig(StrictModel):
    """Step splitting and prefix re-sampling."""

    max_steps: int = Field(8, ge=2, le=64, description="a response is cut into at most this many steps")
    min_step_chars: int = Field(16, ge=1, description="shorter pieces join the next step")
    max_prefixes: int = Field(4, ge=1, le=32, description="prefixes probed per incorrect response")
    rollouts: int = Field(4, ge=1, le=64, description="continuations sampled per prefix")
    min_drop: float = Field(0.25, gt=0.0, le=1.0, description="value drop that marks the first wrong step")
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


def first_divergence(values: list[tuple[int, float]], min_drop: float) -> int | None:
    """The prefix length after which the value first drops by min_drop; values are (length,
    success rate) in order, ending with the full incorrect response at 0."""
    for (j, v), (_, v_next) in zip(values, values[1:]):
        if v - v_next >= min_drop:
            return j
    return None


def _candidates(prompts: pa.Table, generations: pa.Table, verdicts: pa.Table, cfg: StepPairConfig):
    """(prompt row, pass rate, incorrect generations) for train prompts with both outcomes."""
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
            yield prompt, n_right / len(samples), wrong[: cfg.responses_per_prompt]


def step_pairs(backend: GenerationBackend, prompts: pa.Table, generations: pa.Table, verdicts: pa.Table,
               fmt: PromptFormat, cfg: StepPairConfig, *, progress=None) -> tuple[pa.Table, pa.Table]:
    """(preference_pairs with pair_kind 'step', step_values: the estimated value of every probed
    prefix). One backend call samples all rollouts."""
    probes = []  # (prompt, response generation, steps, prefix length)
    roots = {}
    for prompt, pass_rate, wrong in _candidates(prompts, generations, verdicts, cfg):
        for gen in wrong:
            steps = split_steps(gen["response"], cfg.max_steps, cfg.min_step_chars)
            roots[gen["generation_id"]] = (prompt, gen, steps, pass_rate)
            probes += [(gen["generation_id"], j) for j in probe_points(len(steps), cfg.max_prefixes)]
    sampling = Sampling(k=cfg.rollouts, temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed)
    chats = [conversation(roots[gid][0]["prompt"], fmt) for gid, _ in probes]
    prefixes = ["".join(roots[gid][2][:j]) for gid, j in probes]
    outputs = (backend.generate(chats, cfg.rollouts, sampling, prefixes=prefixes, progress=progress)
               if probes else [])
    rollouts = defaultdict(dict)  # generation_id -> prefix length -> [(continuation, correct)]
    for (gid, j), prefix, completions in zip(probes, prefixes, outputs):
        prompt = roots[gid][0]
        meta = json.loads(prompt["metadata"]) if prompt.get("metadata") else {}
        rollouts[gid][j] = [(c.text, verify(prompt["verifier"], prefix + c.text, prompt["answer"], meta,
                                            question=prompt["prompt"]).correct) for c in completions]
    pairs, values = [], []
    for gid, (prompt, _, steps, pass_rate) in roots.items():
        curve = [(0, pass_rate)] + [(j, sum(ok for _, ok in r) / len(r)) for j, r in sorted(rollouts[gid].items())]
        curve.append((len(steps), 0.0))
        split_at = first_divergence(curve, cfg.min_drop)
        values += [{"prompt_id": prompt["prompt_id"], "generation_id": gid, "prefix_steps": j,
                    "n_steps": len(steps), "prefix_chars": len("".join(steps[:j])), "value": v,
                    "n_rollouts": len(rollouts[gid].get(j, [])), "divergence": j == split_at} for j, v in curve]
        if split_at:  # at 0 it is an ordinary outcome pair, which preference.py already makes
            pairs.append(_pair(prompt, fmt, steps, split_at, rollouts[gid][split_at]))
    rows = [p for p in pairs if p is not None]
    return (pa.Table.from_pylist(rows, schema=output_schema("preference_pairs")),
            pa.Table.from_pylist(values, schema=_values_schema()))


def _pair(prompt: dict, fmt: PromptFormat, steps: list[str], split_at: int, rolled: list) -> dict | None:
    prefix = "".join(steps[:split_at])
    good = sorted((text for text, ok in rolled if ok), key=len)
    if not good:
        return None
    chosen, rejected = prefix + good[0], "".join(steps)
    return {"pair_id": content_id("step", prompt["prompt_id"], chosen, rejected), "prompt_id": prompt["prompt_id"],
            "prompt": fmt.user_text(prompt["prompt"]), "chosen": chosen, "rejected": rejected,
            "chosen_score": 1.0, "rejected_score": 0.0, "pair_kind": "step"}


def _values_schema() -> pa.Schema:
    return pa.schema([("prompt_id", pa.string()), ("generation_id", pa.string()), ("prefix_steps", pa.int64()),
                      ("n_steps", pa.int64()), ("prefix_chars", pa.int64()), ("value", pa.float64()),
                      ("n_rollouts", pa.int64()), ("divergence", pa.bool_())])


JUDGE_TEMPLATE = ("Question:\n{question}\n\nResponse A:\n{a}\n\nResponse B:\n{b}\n\nWhich response answers the "
                  "question better and more correctly? Reply with one letter: A or B.")


class JudgeConfig(StrictModel):
    """LLM-judge pairs for prompts without a verifier."""

    votes: int = Field(2, ge=1, le=16, description="judgements per presentation order")
    margin: float = Field(0.75, gt=0.5, le=1.0, description="share of parsed votes the winner needs")
    temperature: float = Field(0.7, ge=0.0)
    max_tokens: int = Field(8, ge=1, description="most tokens of a judgement")
    response_chars: int = Field(2000, ge=100, description="responses shown to the judge are cut to this")
    seed: int = Field(0, ge=0)


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


def judge_pairs(backend: GenerationBackend, prompts: pa.Table, generations: pa.Table, fmt: PromptFormat,
                cfg: JudgeConfig) -> pa.Table:
    """Preference pairs (pair_kind 'judge') for train prompts without a verifier or gold answer:
    two distinct responses judged in both orders (against position bias)."""
    texts = defaultdict(list)
    for g in sorted(generations.select(["prompt_id", "sample_index", "response"]).to_pylist(),
                    key=lambda g: (g["prompt_id"], g["sample_index"])):
        if g["response"] and g["response"] not in texts[g["prompt_id"]]:
            texts[g["prompt_id"]].append(g["response"])
    todo = [(p, texts[p["prompt_id"]][:2]) for p in train_prompts(prompts)
            if (not p.get("verifier") or p.get("answer") is None) and len(texts[p["prompt_id"]]) >= 2]
    cut = cfg.response_chars
    chats = []
    for prompt, (first, second) in todo:
        for a, b in ((first, second), (second, first)):
            chats.append([{"role": "user", "content": JUDGE_TEMPLATE.format(
                question=prompt["prompt"], a=a[:cut], b=b[:cut])}])
    sampling = Sampling(k=cfg.votes, temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed)
    outputs = backend.generate(chats, cfg.votes, sampling) if chats else []
    rows = []
    for n, (prompt, (first, second)) in enumerate(todo):
        straight = [parse_judgement(c.text) for c in outputs[2 * n]]
        swapped = [parse_judgement(c.text) for c in outputs[2 * n + 1]]
        for_first = straight.count("A") + swapped.count("B")
        parsed = for_first + straight.count("B") + swapped.count("A")
        if not parsed:
            continue
        share = for_first / parsed
        if max(share, 1 - share) < cfg.margin:
            continue
        chosen, rejected = (first, second) if share >= cfg.margin else (second, first)
        rows.append({"pair_id": content_id("judge", prompt["prompt_id"], chosen, rejected),
                     "prompt_id": prompt["prompt_id"], "prompt": fmt.user_text(prompt["prompt"]),
                     "chosen": chosen, "rejected": rejected, "chosen_score": max(share, 1 - share),
                     "rejected_score": min(share, 1 - share), "pair_kind": "judge"})
    return pa.Table.from_pylist(rows, schema=output_schema("preference_pairs"))
