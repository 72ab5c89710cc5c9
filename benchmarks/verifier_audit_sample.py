"""Sample real responses of the bundled model for the verifier audit set (tests/data/verifier_audit.jsonl).

Prompts: the four demo tasks at the demo's easy settings (fresh seed), the first rows of four
other bundled eval sets, a small MATH-style source checked by the "math" verifier (LaTeX golds),
and skill-pair prompts checked by the "composite" verifier. Responses are sampled with the demo's
prompt suffix and sampling settings and written UNLABELLED (correct: null): every one must be
read and labelled by hand before it joins the set. Cases already in the set are skipped, so
raising the counts or the seed extends the set.

Usage: python benchmarks/verifier_audit_sample.py [--out benchmarks/verifier_audit_unlabelled.jsonl]
       [--backend vllm|transformers] [--seed 0] [--max-prompts N]
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.backends import Sampling, load_backend  # noqa: E402
from curation.generate import PromptFormat, conversation  # noqa: E402
from curation.skill_synthesis import COMPOSE_TEMPLATE  # noqa: E402
from schemas.ids import content_id  # noqa: E402

SET_PATH = ROOT / "tests" / "data" / "verifier_audit.jsonl"
# (task, reasoning-gym config, prompts, samples per prompt): configs/demo.yaml's settings
DEMO_TASKS = [
    ("chain_sum", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}, 12, 4),
    ("gcd", {"min_numbers": 2, "max_numbers": 2, "max_value": 20}, 12, 4),
    ("letter_counting", {"min_words": 1, "max_words": 2}, 12, 4),
    ("basic_arithmetic", {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}, 12, 4),
]
EVAL_TASKS = [("leg_counting", 6, 3), ("syllogism", 6, 3), ("countdown", 6, 3), ("propositional_logic", 6, 3)]
# A MATH/GSM8K-style source: gold answers as such datasets write them, checked by math-verify
MATH_PROMPTS = [
    ("What is $\\frac{1}{2} + \\frac{1}{4}$? Express your answer as a common fraction.", "\\frac{3}{4}"),
    ("Simplify $\\frac{6}{8}$.", "\\frac{3}{4}"),
    ("What is $0.5 \\times 3$?", "1.5"),
    ("Solve for $x$: $2x + 3 = 11$.", "4"),
    ("What is $15\\%$ of $40$?", "6"),
    ("Compute $\\sqrt{49}$.", "7"),
    ("What is $\\frac{2}{3}$ of $9$?", "6"),
    ("Write $0.25$ as a fraction in lowest terms.", "\\frac{1}{4}"),
    ("A pencil costs $\\$2$. How many dollars do 7 pencils cost?", "14"),
    ("What is $3^2 - 2^3$?", "1"),
    ("Tom has 12 apples and gives away 5. How many apples does he have left?", "7"),
    ("What is $\\frac{3}{5} - \\frac{1}{5}$? Express your answer as a common fraction.", "\\frac{2}{5}"),
]
COMPOSITE_PAIRS = [("chain_sum", "gcd"), ("basic_arithmetic", "letter_counting"), ("gcd", "chain_sum")]
COMPOSITE_PROMPTS, COMPOSITE_SAMPLES = 2, 3


def rg_prompts(task: str, config: dict, count: int, seed: int) -> list[dict]:
    """Reasoning-gym prompts as the sources stage makes them (verifier reasoning_gym)."""
    import reasoning_gym

    data = reasoning_gym.create_dataset(task, size=count, seed=seed, **config)
    return [{"task": task, "verifier": "reasoning_gym", "question": e["question"], "gold": str(e["answer"]),
             "metadata": e["metadata"]} for e in data]


def eval_prompts(task: str, count: int) -> list[dict]:
    """The first rows of a bundled eval set (data/eval/<task>.jsonl)."""
    lines = (ROOT / "data" / "eval" / f"{task}.jsonl").read_text().splitlines()[:count]
    rows = [json.loads(line) for line in lines]
    return [{"task": task, "verifier": "reasoning_gym", "question": r["question"],
             "gold": None if r["answer"] is None else str(r["answer"]), "metadata": r["metadata"]} for r in rows]


def composite_prompts(seed: int) -> list[dict]:
    """Skill-pair prompts in skill_synthesis's compose format, gold 'X; Y'."""
    out = []
    for first_task, second_task in COMPOSITE_PAIRS:
        config = {t: c for t, c, _, _ in DEMO_TASKS}
        firsts = rg_prompts(first_task, config[first_task], COMPOSITE_PROMPTS, seed + 7)
        seconds = rg_prompts(second_task, config[second_task], COMPOSITE_PROMPTS, seed + 11)
        for a, b in zip(firsts, seconds):
            parts = [{"verifier": p["verifier"], "answer": p["gold"], "question": p["question"],
                      "metadata": p["metadata"]} for p in (a, b)]
            out.append({"task": f"{first_task}+{second_task}", "verifier": "composite",
                        "question": COMPOSE_TEMPLATE.format(q1=a["question"], q2=b["question"]),
                        "gold": f"{a['gold']}; {b['gold']}",
                        "metadata": {"origin": "skill_pair_compose", "parts": parts}})
    return out


def all_prompts(seed: int, cap: int | None = None) -> list[tuple[dict, int]]:
    """(prompt, samples) for every source above; `cap` limits the prompts taken from each source."""
    def first(items: list) -> list:
        return items[:cap] if cap else items

    jobs = [(p, k) for task, config, count, k in DEMO_TASKS
            for p in first(rg_prompts(task, config, count, seed + 100))]
    jobs += [(p, k) for task, count, k in EVAL_TASKS for p in first(eval_prompts(task, count))]
    jobs += [({"task": "math_source", "verifier": "math", "question": q, "gold": gold, "metadata": {}}, 3)
             for q, gold in first(MATH_PROMPTS)]
    jobs += [(p, COMPOSITE_SAMPLES) for p in first(composite_prompts(seed + 100))]
    return jobs


def known_ids(path: Path) -> set[str]:
    """Ids of cases already in the set, so an extension run adds only new ones."""
    if not path.exists():
        return set()
    return {json.loads(line)["id"] for line in path.read_text().splitlines() if line.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "verifier_audit_unlabelled.jsonl")
    parser.add_argument("--backend", default="vllm", choices=["vllm", "transformers"])
    parser.add_argument("--seed", type=int, default=0, help="engine seed; prompts of the demo tasks use seed+100")
    parser.add_argument("--max-prompts", type=int, default=None, help="at most this many prompts per source")
    args = parser.parse_args()
    options = {"gpu_memory_utilization": 0.3, "max_model_len": 1024} if args.backend == "vllm" else None
    backend = load_backend(args.backend, "smollm2-135m-instruct", seed=args.seed, options=options)
    sampling = Sampling(k=1, temperature=0.8, top_p=1.0, max_tokens=192, seed=args.seed)  # demo settings
    fmt, seen, written = PromptFormat(), known_ids(SET_PATH), 0
    jobs = all_prompts(args.seed, args.max_prompts)
    with args.out.open("w") as out:
        for k in sorted({k for _, k in jobs}):
            group = [p for p, n in jobs if n == k]
            outputs = backend.generate([conversation(p["question"], fmt) for p in group], k, sampling)
            for prompt, completions in zip(group, outputs):
                for completion in completions:
                    case_id = "real-" + content_id(prompt["task"], prompt["question"], completion.text)[:12]
                    if case_id in seen:
                        continue
                    seen.add(case_id)
                    row = {"id": case_id, "origin": "real", "category": "model_sample", **prompt,
                           "response": completion.text, "finish_reason": completion.finish_reason,
                           "sample_seed": args.seed, "correct": None, "note": ""}
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    written += 1
    backend.close()
    print(json.dumps({"out": str(args.out), "cases": written, "prompts": len(jobs)}))


if __name__ == "__main__":
    main()
