import pyarrow as pa
import pytest

from curation.generate import PromptFormat
from curation.split_builders import RLConfig, SFTConfig, rl_prompts, sft_examples
from schemas.errors import InputError
from schemas.ids import content_id
from schemas.tables import TABLES

FMT = PromptFormat(system="Be brief.", suffix=" (answer after 'Answer:')")


def _prompts():
    return pa.table({
        "prompt_id": ["p1", "p2", "p3", "p4"], "task": ["add"] * 4,
        "prompt": ["1+1?", "2+2?", "3+3?", "name?"], "answer": ["2", "4", "6", None],
        "verifier": ["exact"] * 4, "metadata": ["{}"] * 4,
        "split_guard": ["train", "train", "eval", "train"]})


def _generations_and_verdicts():
    rows = [  # generation_id, prompt_id, response, finish_reason, correct
        ("g1", "p1", "One plus one is two. Answer: 2", "stop", True),
        ("g2", "p1", "Answer: 2", "stop", True),
        ("g3", "p1", "Answer: 2", "stop", True),  # a duplicate text counts once
        ("g4", "p1", "Answer: 3", "stop", False),
        ("g5", "p1", "2", "length", True),  # correct but cut at max_tokens
        ("g6", "p2", "Answer: 5", "stop", False),
        ("g7", "p3", "Answer: 6", "stop", True),
        ("g8", "p4", "Bob", "stop", False)]
    gens = pa.table({"generation_id": [r[0] for r in rows], "prompt_id": [r[1] for r in rows],
                     "response": [r[2] for r in rows], "finish_reason": [r[3] for r in rows]})
    verdicts = pa.table({"generation_id": [r[0] for r in rows], "correct": [r[4] for r in rows]})
    return gens, verdicts


def _by_prompt(table):
    found = {}
    for row in table.to_pylist():
        found.setdefault(row["prompt_id"], []).append(row)
    return found


def test_sft_prefers_own_shortest_correct_then_gold_and_never_eval():
    gens, verdicts = _generations_and_verdicts()
    table = sft_examples(_prompts(), gens, verdicts, FMT, SFTConfig())
    assert table.schema.names == [f.name for f in TABLES["sft_examples"].schema if f.name != "run_id"]
    rows = _by_prompt(table)
    assert set(rows) == {"p1", "p2"}  # p3 is eval; p4 has neither a correct sample nor gold
    (p1,), (p2,) = rows["p1"], rows["p2"]
    assert p1["origin"] == "self" and p1["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "1+1? (answer after 'Answer:')"},
        {"role": "assistant", "content": "Answer: 2"}]
    assert p2["origin"] == "gold" and p2["messages"][-1]["content"] == "Answer: 4"
    assert p1["example_id"] == content_id("p1", "self", "Answer: 2")


def test_sft_per_prompt_distinct_and_not_truncated():
    gens, verdicts = _generations_and_verdicts()
    rows = _by_prompt(sft_examples(_prompts(), gens, verdicts, FMT, SFTConfig(per_prompt=5)))
    assert [r["messages"][-1]["content"] for r in rows["p1"]] == [
        "Answer: 2", "One plus one is two. Answer: 2"]
    rows = _by_prompt(sft_examples(_prompts(), gens, verdicts, FMT, SFTConfig(per_prompt=5, require_stop=False)))
    assert rows["p1"][0]["messages"][-1]["content"] == "2"


def test_sft_gold_preference_and_no_fallback():
    gens, verdicts = _generations_and_verdicts()
    gold = _by_prompt(sft_examples(_prompts(), gens, verdicts, FMT,
                                   SFTConfig(prefer="gold", gold_template="The answer is {answer}.")))
    assert [(r["origin"], r["messages"][-1]["content"]) for r in gold["p1"]] == [("gold", "The answer is 2.")]
    strict = _by_prompt(sft_examples(_prompts(), gens, verdicts, FMT, SFTConfig(gold_fallback=False)))
    assert set(strict) == {"p1"}
    with pytest.raises(ValueError, match="only {answer}"):
        SFTConfig(gold_template="{gold}")


def test_rl_prompts_use_the_generation_user_text():
    stats = pa.table({"prompt_id": ["p1", "p3", "p4"], "pass_rate": [0.5, 0.5, 0.25]})
    table = rl_prompts(_prompts(), stats, FMT, RLConfig())
    assert table.schema.names == [f.name for f in TABLES["rl_prompts"].schema if f.name != "run_id"]
    assert table["prompt_id"].to_pylist() == ["p1", "p4"]  # p2 not kept, p3 eval
    first = table.to_pylist()[0]
    assert first["prompt"] == "1+1? (answer after 'Answer:')"
    assert (first["answer"], first["verifier"], first["pass_rate"], first["curriculum_stage"]) == ("2", "exact", 0.5, 0)
    staged = rl_prompts(_prompts(), stats, FMT, RLConfig(curriculum_stage=2))
    assert set(staged["curriculum_stage"].to_pylist()) == {2}


def test_rl_prompts_refuse_stats_of_several_models():
    stats = pa.table({"prompt_id": ["p1", "p1"], "pass_rate": [0.5, 0.25]})
    with pytest.raises(InputError, match="prompt p1 more than once"):
        rl_prompts(_prompts(), stats, FMT, RLConfig())
