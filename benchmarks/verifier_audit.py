"""Verifier audit: false-positive and false-negative rates of every verifier on a hand-labelled set.

The set (tests/data/verifier_audit.jsonl) holds real responses of the bundled model, labelled by
hand, and hand-written adversarial cases; every case says whether its final answer is right for
its gold (`correct`). Each case is checked by its own verifier and, when its gold is a plain
number, also by "math" and "exact" (the other verifiers that can check a number), so each
verifier is measured on the answers it would see. A false positive is a wrong answer the
verifier accepts (FP rate = FP / wrong answers), a false negative a right answer it rejects
(FN rate = FN / right answers). Rates are also broken down by the extraction rule that found the
answer, by category and by origin; `wrong_reward` is the mean score (the GRPO reward) given to
wrong answers. Prints one JSON line and writes benchmarks/verifier_audit.json;
--write-docs also renders docs/verifier_audit.md from that JSON (and, for the "before" columns,
benchmarks/verifier_audit_baseline.json: this script run with the extraction and verifiers of
commit 8fa7027, before the audit's fixes).

Usage: python benchmarks/verifier_audit.py [--set tests/data/verifier_audit.jsonl] [--write-docs]
"""

import argparse
import hashlib
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.verifiers import verify  # noqa: E402

SET_PATH = ROOT / "tests" / "data" / "verifier_audit.jsonl"
RESULT_PATH = ROOT / "benchmarks" / "verifier_audit.json"
BASELINE_PATH = ROOT / "benchmarks" / "verifier_audit_baseline.json"
DOCS_PATH = ROOT / "docs" / "verifier_audit.md"
REQUIRED_CATEGORIES = ("reasoning_then_different_final", "several_answers", "units", "fraction_decimal", "latex",
                       "trailing_text", "empty_answer", "gold_in_question", "negative_numbers",
                       "thousands_separators", "words", "answer_repeated", "markdown_bold")
NUMERIC_CROSS_CHECKS = ("math", "exact")  # verifiers that can also check a plain-number gold
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def load_cases(path: Path = SET_PATH) -> list[dict]:
    """The labelled cases, one JSON object per line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def set_digest(path: Path = SET_PATH) -> str:
    """sha256 of the set file, so a result file names the exact set it was computed on."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verifiers_for(case: dict) -> list[str]:
    """The case's own verifier, plus the numeric cross-checks when its gold is a plain number."""
    own = case["verifier"]
    names = [own]
    if own in ("reasoning_gym", "math", "exact") and _PLAIN_NUMBER.fullmatch(case["gold"] or ""):
        names += [name for name in NUMERIC_CROSS_CHECKS if name != own]
    return names


def audit_rows(cases: list[dict]) -> list[dict]:
    """One row per (case, verifier): the hand label next to the verdict and its extraction rule."""
    rows = []
    for case in cases:
        for name in verifiers_for(case):
            verdict = verify(name, case["response"], case["gold"], case["metadata"], question=case["question"])
            rows.append({"id": case["id"], "verifier": name, "own": name == case["verifier"],
                         "origin": case["origin"], "batch": _batch(case), "category": case["category"],
                         "task": case["task"],
                         "rule": verdict.detail.split(";")[0] if verdict.extracted is not None else "none",
                         "label": bool(case["correct"]), "predicted": verdict.correct, "score": verdict.score})
    return rows


def _batch(case: dict) -> str:
    """Adversarial, or the sampling run a real case came from (later runs were labelled after the
    fixes of earlier ones, so they check those fixes on unseen responses)."""
    return "adversarial" if case["origin"] != "real" else f"real, sample seed {case['sample_seed']}"


def rates(rows: list[dict]) -> dict:
    """Counts and rates of one group of audit rows (rates are None when undefined)."""
    right = [r for r in rows if r["label"]]
    wrong = [r for r in rows if not r["label"]]
    fp = sum(r["predicted"] for r in wrong)
    fn = sum(not r["predicted"] for r in right)
    return {"n": len(rows), "right": len(right), "wrong": len(wrong), "fp": fp, "fn": fn,
            "fp_rate": round(fp / len(wrong), 4) if wrong else None,
            "fn_rate": round(fn / len(right), 4) if right else None,
            "accuracy": round((len(rows) - fp - fn) / len(rows), 4) if rows else None,
            "wrong_reward": round(sum(r["score"] for r in wrong) / len(wrong), 4) if wrong else None}


def grouped(rows: list[dict], *keys: str) -> dict:
    """rates() per value of `keys` (joined with '/'), sorted by key."""
    groups = defaultdict(list)
    for row in rows:
        groups["/".join(str(row[k]) for k in keys)].append(row)
    return {key: rates(group) for key, group in sorted(groups.items())}


def summarize(cases: list[dict], rows: list[dict], set_path: Path) -> dict:
    """The result file: set facts, rates per verifier / rule / category / origin, and the mistakes."""
    mistakes = defaultdict(lambda: {"false_positives": [], "false_negatives": []})
    for row in rows:
        if row["predicted"] != row["label"]:
            kind = "false_positives" if row["predicted"] else "false_negatives"
            mistakes[row["verifier"]][kind].append(row["id"])
    origins = defaultdict(int)
    for case in cases:
        origins[case["origin"]] += 1
    return {"set": {"path": set_path.name, "sha256": set_digest(set_path), "cases": len(cases),
                    "origins": dict(sorted(origins.items())), "right": sum(bool(c["correct"]) for c in cases),
                    "categories": sorted({c["category"] for c in cases})},
            "by_verifier": grouped(rows, "verifier"),
            "by_verifier_own_cases": grouped([r for r in rows if r["own"]], "verifier"),
            "by_verifier_origin": grouped(rows, "verifier", "origin"),
            "by_verifier_batch": grouped(rows, "verifier", "batch"),
            "by_verifier_rule": grouped(rows, "verifier", "rule"),
            "by_verifier_category": grouped(rows, "verifier", "category"),
            "mistakes": {name: mistakes[name] for name in sorted(mistakes)}}


def headline(result: dict) -> dict:
    """The one JSON line printed: per-verifier FP/FN rates and the set size."""
    line = {"cases": result["set"]["cases"]}
    for name, stats in result["by_verifier"].items():
        line[f"{name}_fp_rate"], line[f"{name}_fn_rate"] = stats["fp_rate"], stats["fn_rate"]
    return line


def render_docs(result: dict, cases: list[dict]) -> str:
    """docs/verifier_audit.md for `result`, compared with the committed baseline when there is one."""
    from benchmarks.verifier_audit_report import render

    baseline = json.loads(BASELINE_PATH.read_text()) if BASELINE_PATH.exists() else None
    return render(result, cases, baseline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=SET_PATH)
    parser.add_argument("--out", type=Path, default=RESULT_PATH)
    parser.add_argument("--write-docs", action="store_true", help=f"also render {DOCS_PATH.relative_to(ROOT)}")
    args = parser.parse_args()
    cases = load_cases(args.set)
    result = summarize(cases, audit_rows(cases), args.set)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    if args.write_docs:
        DOCS_PATH.write_text(render_docs(result, cases))
    print(json.dumps(headline(result)))


if __name__ == "__main__":
    main()
