"""Score a response against its gold answer. One code path for curation verdicts and GRPO rewards."""

import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa

from curation.answer_numbers import looks_numeric, parse_number
from curation.extract import extract_answer
from curation.generate import output_schema
from schemas.errors import ConfigError, InputError

COMPOSITE = "composite"  # skill-pair prompts (curation/skill_synthesis.py): parts checked one by one
VERIFIERS = ("reasoning_gym", "math", "exact", "regex", COMPOSITE)
_YES_NO = ("yes", "no", "true", "false")
_CANONICAL_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?")
# an operator between operands: "7 + 4", "4 * -4", "-6/3", "\\frac{1}{2}+\\frac{1}{4}"
_OPERATION = re.compile(r"[\w})]\s*(?:[-+*×÷^/]|\\cdot|\\times|\\div)\s*[-\w\\(]")


@dataclass
class Verdict:
    """Outcome of one check; `detail` says how the answer was found or why it failed."""

    correct: bool
    score: float
    extracted: str | None
    detail: str


def verify(verifier: str, response: str, answer: str | None, metadata: dict, *,
           question: str = "") -> Verdict:
    """Check `response` with the named verifier. Never raises on model text; an unknown
    verifier is a ConfigError."""
    check = _CHECKS.get(verifier)
    if check is None:
        raise ConfigError(f"unknown verifier '{verifier}'; choose one of {', '.join(VERIFIERS)}")
    extracted, method = extract_answer(response or "")
    if answer is None and not _checks_without_gold(verifier, metadata):
        return Verdict(False, 0.0, extracted, "no gold answer")
    if extracted is None:
        return Verdict(False, 0.0, None, "no answer found")
    if restates_question(extracted, question):
        return Verdict(False, 0.0, extracted, f"{method}; restates the question")
    try:
        score, note = check(extracted, answer, metadata, question)
    except Exception as exc:  # a verifier's library choking on odd model text is a wrong answer
        detail = f"{method}; {verifier} failed: {type(exc).__name__}: {exc}"
        return Verdict(False, 0.0, extracted, detail[:300])
    score = float(score)
    return Verdict(score >= 1.0, score, extracted, method + (f"; {note}" if note else ""))


def _checks_without_gold(verifier: str, metadata: dict) -> bool:
    """reasoning-gym scorers may judge from metadata alone (propositional_logic has no gold);
    regex may check a metadata pattern."""
    return verifier == "reasoning_gym" or (verifier == "regex" and bool(metadata.get("answer_regex")))


def restates_question(extracted: str, question: str) -> bool:
    """An unevaluated expression copied from the question ("7 + 4" for "7 + 4 =") is not an answer."""
    compact = "".join(extracted.split()).casefold()
    return (len(compact) >= 3 and _OPERATION.search(extracted) is not None
            and compact in "".join(question.split()).casefold())


@lru_cache(maxsize=None)
def _score_fn(source_dataset: str):
    import reasoning_gym

    return reasoning_gym.get_score_answer_fn(source_dataset)  # builds a dataset object: cache it


def _reasoning_gym(extracted, answer, metadata, question):
    source = metadata.get("source_dataset")
    if not source:
        raise KeyError("metadata has no 'source_dataset'")
    extracted, note = _as_gold_form(extracted, answer)
    if note == "malformed number":
        return 0.0, note
    entry = {"question": question, "answer": answer, "metadata": metadata}
    return _score_fn(source)(extracted, entry), note


def _as_gold_form(extracted: str, answer: str | None) -> tuple[str, str]:
    """Hand reasoning-gym's scorers (mostly exact string matches) the gold's own spelling when the
    answer means the same: the same number ("4,750", "+5", "-2.0", "three") or Yes/No in any case."""
    if answer is None:
        return extracted, ""
    # only golds written as plain numbers: "0110" may be a bit string, where leading zeros matter
    gold_value = parse_number(answer) if _CANONICAL_NUMBER.fullmatch(answer) else None
    if gold_value is not None and not re.match(r"[-+]?0\d", extracted):
        value = parse_number(extracted)
        if value == gold_value:
            return answer, "" if extracted == answer else "same number"
        if value is None and looks_numeric(extracted):
            return extracted, "malformed number"
    if answer.casefold() in _YES_NO and extracted.casefold() == answer.casefold():
        return answer, ""
    return extracted, ""


def _math(extracted, answer, metadata, question):
    left, right = parse_number(extracted), parse_number(answer)
    if left is None and looks_numeric(extracted):
        return 0.0, "malformed number"
    if left is not None and right is not None:
        return float(left == right), "numeric"
    from math_verify import parse, verify as math_equal

    # math_verify times out with signal.alarm, which only works in the main thread
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    gold = answer if ("$" in answer or "\\boxed" in answer) else f"${answer}$"
    target = extracted if "$" in extracted else f"${extracted}$"
    gold_parsed, target_parsed = parse(gold, parsing_timeout=timeout), parse(target, parsing_timeout=timeout)
    if not gold_parsed:
        raise ValueError(f"cannot parse gold answer {answer!r}")
    return float(math_equal(gold_parsed, target_parsed, timeout_seconds=timeout)), "math_verify"


def normalize(text: str) -> str:
    """Strip, casefold, collapse whitespace, drop a trailing period."""
    return " ".join(text.strip().casefold().split()).rstrip(".").strip()


def _exact(extracted, answer, metadata, question):
    return float(normalize(extracted) == normalize(answer)), ""


def _regex(extracted, answer, metadata, question):
    pattern = metadata.get("answer_regex") or answer
    return float(re.fullmatch(pattern, extracted.strip()) is not None), ""


def _composite(extracted, answer, metadata, question):
    """Skill-pair prompts: every part checked by its own verifier."""
    return composite_check(extracted, metadata)


def split_answer(extracted: str, n_parts: int) -> list[str] | None:
    """'X; Y' (or '(1) X (2) Y') into its parts; None when the count is wrong."""
    pieces = [p.strip() for p in extracted.split(";")]
    if len(pieces) != n_parts:
        numbered = re.split(r"\(\s*\d+\s*\)", extracted)
        pieces = [p.strip(" ,.") for p in numbered[1:]] if len(numbered) == n_parts + 1 else []
    return pieces if len(pieces) == n_parts and all(pieces) else None


def _verify_part(verifier: str, extracted: str, answer: str, metadata: dict, question: str) -> tuple[float, str]:
    verdict = verify(verifier, f"Answer: {extracted}", answer, metadata, question=question)
    return verdict.score, verdict.detail


def composite_check(extracted: str, metadata: dict, check_part=_verify_part) -> tuple[float, str]:
    """Score of a composite answer: the mean of its parts' scores (1.0 only when all are right)."""
    parts = metadata.get("parts") or []
    if not parts:
        raise ValueError("composite prompt has no 'parts' in its metadata")
    pieces = split_answer(extracted, len(parts))
    if pieces is None:
        return 0.0, f"expected {len(parts)} answers separated by ';'"
    scores = [check_part(p["verifier"], piece, p["answer"], p.get("metadata") or {}, p.get("question", ""))[0]
              for p, piece in zip(parts, pieces)]
    return sum(scores) / len(scores), "parts " + "/".join(f"{s:g}" for s in scores)


_CHECKS = {"reasoning_gym": _reasoning_gym, "math": _math, "exact": _exact, "regex": _regex,
           COMPOSITE: _composite}


def verdicts_table(generations: pa.Table, prompts: pa.Table) -> pa.Table:
    """Verify every generation with its prompt's verifier; a verdicts table (no run_id)."""
    by_prompt = _prompt_lookup(prompts)
    rows = {name: [] for name in output_schema("verdicts").names}
    for gen in generations.select(["generation_id", "prompt_id", "response"]).to_pylist():
        prompt = by_prompt.get(gen["prompt_id"])
        if prompt is None:
            raise InputError(f"generation {gen['generation_id']}: prompt {gen['prompt_id']} "
                             "is not in the prompts table")
        verdict = verify(prompt["verifier"], gen["response"], prompt["answer"], prompt["metadata"],
                         question=prompt["prompt"])
        for name, value in (("generation_id", gen["generation_id"]), ("prompt_id", gen["prompt_id"]),
                            ("verifier", prompt["verifier"]), ("extracted", verdict.extracted),
                            ("correct", verdict.correct), ("score", verdict.score),
                            ("detail", verdict.detail)):
            rows[name].append(value)
    return pa.Table.from_pydict(rows, schema=output_schema("verdicts"))


def _prompt_lookup(prompts: pa.Table) -> dict[str, dict]:
    """prompt_id -> {verifier, answer, metadata (parsed), prompt}, checked once per prompt."""
    lookup = {}
    columns = ["prompt_id", "prompt", "answer", "verifier", "metadata"]
    missing = [c for c in columns if c not in prompts.column_names]
    if missing:
        raise InputError(f"prompts table lacks column(s) {', '.join(missing)}")
    for row in prompts.select(columns).to_pylist():
        if row["verifier"] not in VERIFIERS:
            raise ConfigError(f"prompt {row['prompt_id']}: unknown verifier '{row['verifier']}'; "
                              f"choose one of {', '.join(VERIFIERS)}")
        try:
            row["metadata"] = json.loads(row["metadata"]) if row["metadata"] else {}
        except json.JSONDecodeError as exc:
            raise InputError(f"prompt {row['prompt_id']}: metadata is not valid JSON ({exc})",
                             field="metadata") from None
        lookup[row["prompt_id"]] = row
    return lookup
