"""Regenerate the bundled held-out eval sets: data/eval/<task>.jsonl from reasoning-gym.

Seeds start at 9000 so they never coincide with training sources (configs use small seeds);
configs are the easy settings the demo trains on (see configs/demo.yaml). Run:

    .venv/bin/python data/eval/make_eval_sets.py [--count 50]
"""

import argparse
import json
from pathlib import Path

EVAL_SEED = 9000
EASY_CONFIGS = {
    "chain_sum": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
    "gcd": {"min_numbers": 2, "max_numbers": 2, "max_value": 20},
    "letter_counting": {"min_words": 1, "max_words": 2},
    "basic_arithmetic": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
    "syllogism": {},
    "propositional_logic": {"min_vars": 2, "max_vars": 2, "min_statements": 2, "max_statements": 2,
                            "min_complexity": 1, "max_complexity": 1},
    "leg_counting": {"min_animals": 1, "max_animals": 2, "min_instances": 1, "max_instances": 3},
    "countdown": {"min_numbers": 3, "max_numbers": 3, "min_value": 1, "max_value": 10,
                  "min_target": 10, "max_target": 50},
}


def eval_records(task: str, count: int, seed: int) -> list[dict]:
    """`count` reasoning-gym entries of `task` at its easy config, as JSON-ready records."""
    import reasoning_gym

    data = reasoning_gym.create_dataset(task, size=count, seed=seed, **EASY_CONFIGS[task])
    records = []
    for i in range(count):
        entry = data[i]
        records.append({"question": entry["question"], "answer": entry["answer"],
                        "metadata": entry["metadata"], "task": task})
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="questions per task")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    for offset, task in enumerate(EASY_CONFIGS):
        records = eval_records(task, args.count, EVAL_SEED + offset)
        path = args.out / f"{task}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True, default=str) + "\n")
        print(f"{path}: {len(records)} questions, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
