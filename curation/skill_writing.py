"""STAT-Syn / Instruct-SkillMix data generation: the model writes new questions for the weakest
skill pairs of a Missing-Skill-Profile, and only checkable ones are kept.

A written question has no gold answer, so it is checked the only way a model-written question
can be without a reference solver: k answers are sampled and must agree on one final answer
(the most common one has at least `agreement.min_share` of the k). That answer becomes the gold
(verifier "math" for a number, "exact" otherwise). Every other question is dropped with its
reason: no problem in the reply, a reply cut off, a repeat, no answer, answers that disagree, or
a question that states the answer it agrees on.
"""

import json
import math
import re
from collections import Counter
from itertools import combinations

import pyarrow as pa

from curation.answer_numbers import parse_number
from curation.backends.base import GenerationBackend, Sampling
from curation.extract import extract_answer
from curation.generate import PromptFormat, conversation
from curation.skill_synthesis import PROMPT_SCHEMA, WRITTEN, SkillSynthesisConfig
from curation.step import StepResult, drop_log
from curation.verifiers import normalize, restates_question
from schemas.errors import InputError
from schemas.ids import content_id

TEMPLATE = ("Write one new, self-contained problem that needs both of these skills: {a} and {b}. "
            "It must have one short final answer, such as a number. Do not solve it.")
PREFIX = "Problem:"  # the reply starts with the problem itself
STEP = "skill_synthesis"
_SOLUTION = re.compile(r"\n\s*(?:\*\*)?(?:solution|answer)\b", re.IGNORECASE)  # where a problem ends


def weakest_pairs(profile: pa.Table, n: int, min_prompts: int = 1) -> list[tuple[dict, dict]]:
    """The n pairs of judged skills (a pass rate over at least min_prompts prompts) with the
    lowest mean pass rate; an InputError when fewer than two skills were judged."""
    judged = sorted((r for r in profile.to_pylist() if r["pass_rate"] is not None and r["n_prompts"] >= min_prompts),
                    key=lambda r: r["name"])
    if len(judged) < 2:
        raise InputError(f"the Missing-Skill-Profile judged {len(judged)} skill(s) on at least {min_prompts} "
                         "prompts; skill-pair synthesis needs two", field="skills.synthesis")
    pairs = combinations(judged, 2)
    return sorted(pairs, key=lambda p: (p[0]["pass_rate"] + p[1]["pass_rate"], p[0]["name"], p[1]["name"]))[:n]


def write_questions(backend: GenerationBackend, pairs: list[tuple[dict, dict]],
                    cfg: SkillSynthesisConfig) -> list[tuple[tuple[dict, dict], str, str]]:
    """n_prompts (pair, reply text, finish reason), round-robin over the pairs (weakest first)."""
    per_pair = math.ceil(cfg.n_prompts / len(pairs))
    chats = [[{"role": "user", "content": TEMPLATE.format(a=a["name"], b=b["name"])}] for a, b in pairs]
    sampling = Sampling(k=per_pair, temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed)
    replies = backend.generate(chats, per_pair, sampling, prefixes=[PREFIX] * len(chats))
    ordered = [(pair, completions[j]) for j in range(per_pair) for pair, completions in zip(pairs, replies)]
    return [(pair, c.text, c.finish_reason) for pair, c in ordered[: cfg.n_prompts]]


def parse_problem(reply: str) -> str | None:
    """The problem text after a 'Problem:' marker (else the whole reply), cut before any
    'Solution:' or 'Answer:'; None when too short to be a problem."""
    match = list(re.finditer(r"problem\s*:", reply, flags=re.IGNORECASE))
    text = reply[match[-1].end():] if match else reply
    text = _SOLUTION.split(text)[0].strip(" \n*")
    return text if len(text) >= 20 else None


def agreed_answer(responses: list[str], question: str) -> tuple[str | None, int]:
    """The most common final answer of the responses (numbers compared by value, text by its
    normalized form; a restated question is no answer) and how many gave it."""
    groups: dict[str, Counter] = {}
    for response in responses:
        found, _ = extract_answer(response)
        if found is None or restates_question(found, question):
            continue
        groups.setdefault(_answer_key(found), Counter())[found] += 1
    if not groups:
        return None, 0
    key = max(sorted(groups), key=lambda k: sum(groups[k].values()))
    return groups[key].most_common(1)[0][0], sum(groups[key].values())


def _answer_key(answer: str) -> str:
    """Answers that mean the same have one key: a number's value, else the normalized text."""
    value = parse_number(answer)
    return str(value) if value is not None else normalize(answer)


def states_its_answer(question: str, answer: str) -> bool:
    """Whether the question, read as a response, already gives this answer ("2 + 1 = 3. ...")."""
    stated, _ = extract_answer(question)
    return stated is not None and _answer_key(stated) == _answer_key(answer)


def synthesize_for_profile(backend: GenerationBackend, profile: pa.Table, cfg: SkillSynthesisConfig,
                           prompt_format: PromptFormat, *, min_prompts: int = 1) -> StepResult:
    """New prompts (source 'synthesis:model') for the profile's weakest pairs whose k answers
    agree; the rest in filter_log (table prompts, step skill_synthesis) with the reason."""
    pairs = weakest_pairs(profile, cfg.pairs, min_prompts)
    written, dropped, seen = [], [], set()
    for index, (pair, reply, finish) in enumerate(write_questions(backend, pairs, cfg)):
        text = parse_problem(PREFIX + reply)
        pid = content_id(WRITTEN, text)
        reason = _unusable(text, finish == "length" and not _SOLUTION.search(reply), pid in seen)
        seen.add(pid)
        if reason:  # not a new question: logged under the reply's own id
            dropped.append((content_id(WRITTEN, reply, index), reason))
        else:
            written.append((pid, pair, text))
    rows = []
    answers = _answers(backend, [text for _, _, text in written], cfg, prompt_format)
    for (pid, pair, text), responses in zip(written, answers):
        gold, votes = agreed_answer(responses, text)
        share = votes / len(responses)
        if gold is None:
            dropped.append((pid, f"no final answer in any of {len(responses)} answers"))
        elif share < cfg.agreement.min_share:
            dropped.append((pid, f"answers disagree: the most common ({gold!r}) in {votes} of {len(responses)}, "
                                 f"below {cfg.agreement.min_share:g}"))
        elif states_its_answer(text, gold):
            dropped.append((pid, f"the question states its own answer ({gold!r})"))
        else:
            rows.append(_row(pid, pair, text, gold, share, cfg, profile))
    return StepResult(pa.Table.from_pylist(rows, schema=PROMPT_SCHEMA), drop_log(dropped, "prompts", STEP))


def _unusable(text: str | None, cut: bool, repeated: bool) -> str | None:
    if text is None:
        return "no problem in the reply"
    if cut:
        return "the problem was cut off at max_tokens"
    return "repeats a question already written" if repeated else None


def _answers(backend: GenerationBackend, questions: list[str], cfg: SkillSynthesisConfig,
             prompt_format: PromptFormat) -> list[list[str]]:
    if not questions:
        return []
    agree = cfg.agreement
    sampling = Sampling(k=agree.k, temperature=agree.temperature, max_tokens=agree.max_tokens, seed=cfg.seed)
    replies = backend.generate([conversation(q, prompt_format) for q in questions], agree.k, sampling)
    return [[c.text for c in completions] for completions in replies]


def _row(pid: str, pair: tuple[dict, dict], text: str, gold: str, share: float, cfg: SkillSynthesisConfig,
         profile: pa.Table) -> dict:
    runs = sorted({r for r in profile.column("run_id").to_pylist() if r}) if "run_id" in profile.column_names else []
    metadata = {"origin": WRITTEN, "skills": [s["name"] for s in pair],
                "pair_pass_rates": [round(s["pass_rate"], 4) for s in pair], "profile_runs": runs,
                "verified_by": "agreement", "agreement": round(share, 4), "k": cfg.agreement.k,
                "min_share": cfg.agreement.min_share}
    return {"prompt_id": pid, "source": WRITTEN, "task": "skill_pair", "prompt": text, "answer": gold,
            "verifier": "math" if parse_number(gold) is not None else "exact",
            "metadata": json.dumps(metadata, sort_keys=True), "split_guard": "train"}
