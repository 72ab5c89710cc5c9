import pyarrow as pa

from curation.generate import PromptFormat
from curation.preference import PreferenceConfig, preference_pairs
from schemas.ids import content_id
from schemas.tables import TABLES

FMT = PromptFormat()


def _tables():
    rows = [  # generation_id, prompt_id, response, finish_reason, correct, score
        ("a1", "a", "Answer: 4", "stop", True, 1.0),
        ("a2", "a", "2+2=4. Answer: 4", "stop", True, 1.0),
        ("a3", "a", "The sum is 4", "stop", True, 1.0),
        ("a4", "a", "Answer: 5", "stop", False, 0.0),
        ("a5", "a", "Answer: 22", "stop", False, 0.01),
        ("a6", "a", "Answer: 3", "stop", False, 0.0),
        ("a7", "a", "Answer: 4 4 4 4", "length", True, 1.0),  # truncated: never chosen
        ("a8", "a", "  ", "stop", False, 0.0),  # empty: never rejected
        ("b1", "b", "Answer: 1", "stop", True, 1.0),  # only correct samples: no pair
        ("c1", "c", "Answer: 9", "stop", True, 1.0),  # eval prompt
        ("c2", "c", "Answer: 8", "stop", False, 0.0)]
    prompts = pa.table({"prompt_id": ["a", "b", "c"], "prompt": ["2+2?", "0+1?", "4+5?"],
                        "split_guard": ["train", "train", "eval"]})
    gens = pa.table({"generation_id": [r[0] for r in rows], "prompt_id": [r[1] for r in rows],
                     "response": [r[2] for r in rows], "finish_reason": [r[3] for r in rows]})
    verdicts = pa.table({"generation_id": [r[0] for r in rows], "correct": [r[4] for r in rows],
                         "score": [r[5] for r in rows]})
    return prompts, gens, verdicts


def test_pairs_correct_over_incorrect_for_train_prompts_with_both_outcomes():
    prompts, gens, verdicts = _tables()
    pairs = preference_pairs(prompts, gens, verdicts, FMT, PreferenceConfig(max_pairs_per_prompt=2))
    assert pairs.schema.names == [f.name for f in TABLES["preference_pairs"].schema if f.name != "run_id"]
    rows = pairs.to_pylist()
    assert len(rows) == 2 and {r["prompt_id"] for r in rows} == {"a"}
    correct = {"Answer: 4", "2+2=4. Answer: 4", "The sum is 4"}
    for row in rows:
        assert row["chosen"] in correct and row["rejected"] in {"Answer: 5", "Answer: 22", "Answer: 3"}
        assert row["prompt"] == "2+2?" + FMT.suffix and row["pair_kind"] == "outcome"
        assert row["chosen_score"] == 1.0 and row["pair_id"] == content_id("a", row["chosen"], row["rejected"])
    # the first pairs spread over distinct chosen and distinct rejected responses
    assert len({r["chosen"] for r in rows}) == 2 and len({r["rejected"] for r in rows}) == 2


def test_all_pairs_are_distinct_and_capped_by_the_product():
    prompts, gens, verdicts = _tables()
    pairs = preference_pairs(prompts, gens, verdicts, FMT, PreferenceConfig(max_pairs_per_prompt=50))
    combos = [(r["chosen"], r["rejected"]) for r in pairs.to_pylist()]
    assert len(combos) == len(set(combos)) == 9  # 3 stopped correct x 3 incorrect


def test_pairs_are_deterministic_for_a_seed_and_vary_across_seeds():
    prompts, gens, verdicts = _tables()

    def picked(seed):
        pairs = preference_pairs(prompts, gens, verdicts, FMT, PreferenceConfig(seed=seed))
        return pairs["pair_id"].to_pylist()

    assert picked(0) == picked(0)
    assert len({tuple(sorted(picked(seed))) for seed in range(10)}) > 1
