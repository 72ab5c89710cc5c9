import json
import threading

import pyarrow as pa
import pytest
import reasoning_gym

from curation.verifiers import VERIFIERS, composite_check, split_answer, verdicts_table, verify
from schemas.errors import ConfigError, InputError
from schemas.tables import TABLES


@pytest.fixture(scope="module")
def chain_sum_entries():
    return list(reasoning_gym.create_dataset("chain_sum", size=3, seed=1))


def test_reasoning_gym_scores_the_right_and_a_wrong_answer(chain_sum_entries):
    for entry in chain_sum_entries:
        right = verify("reasoning_gym", f"Let me add.\nAnswer: {entry['answer']}", entry["answer"],
                       entry["metadata"], question=entry["question"])
        assert right.correct and right.score == 1.0 and right.extracted == entry["answer"]
        assert right.detail == "answer_line"
        wrong = verify("reasoning_gym", f"Answer: {int(entry['answer']) + 1}", entry["answer"],
                       entry["metadata"], question=entry["question"])
        assert not wrong.correct and wrong.score < 1.0


def test_reasoning_gym_without_source_dataset_is_a_failed_verdict_not_an_exception():
    verdict = verify("reasoning_gym", "Answer: 3", "3", {})
    assert not verdict.correct and "source_dataset" in verdict.detail


@pytest.mark.parametrize("response,gold,correct", [
    ("Answer: 7", "7", True),
    ("Answer: 7.0", "7", True),
    ("The answer is 8", "7", False),
    ("$\\boxed{\\frac{1}{2}}$", "0.5", True),
    ("\\boxed{\\frac{2}{4}}", "\\frac{1}{2}", True),
    ("Answer: 1/2", "0.5", True),
    ("\\boxed{x+1}", "1+x", True),
    ("\\boxed{x+2}", "$x+1$", False),
])
def test_math_verifier(response, gold, correct):
    verdict = verify("math", response, gold, {})
    assert verdict.correct is correct
    assert verdict.score == (1.0 if correct else 0.0)


def test_math_verifier_works_off_the_main_thread():
    # math_verify's default timeout uses signal.alarm, which raises in worker threads (Prefect tasks)
    results = []
    worker = threading.Thread(target=lambda: results.append(verify("math", "\\boxed{\\frac{1}{2}}", "0.5", {})))
    worker.start()
    worker.join()
    assert results[0].correct, results[0].detail


def test_math_verifier_survives_garbage():
    verdict = verify("math", "\\boxed{\\frac{{{}", "3", {})
    assert not verdict.correct


@pytest.mark.parametrize("response,gold,correct", [
    ("Answer: Paris.", "paris", True),
    ("Answer:   New    York ", "new york", True),
    ("<answer>TRUE</answer>", "True", True),
    ("Answer: London", "Paris", False),
])
def test_exact_verifier_normalizes(response, gold, correct):
    assert verify("exact", response, gold, {}).correct is correct


def test_regex_verifier_uses_metadata_pattern_then_gold():
    assert verify("regex", "Answer: 2024-01-05", None, {"answer_regex": r"\d{4}-\d{2}-\d{2}"}).correct
    assert not verify("regex", "Answer: 2024-1-5", None, {"answer_regex": r"\d{4}-\d{2}-\d{2}"}).correct
    assert verify("regex", "Answer: cat", "cat|dog", {}).correct
    assert not verify("regex", "Answer: cats", "cat|dog", {}).correct  # fullmatch, not search
    broken = verify("regex", "Answer: 3", "(unclosed", {})
    assert not broken.correct and "error" in broken.detail


def test_missing_gold_and_missing_answer():
    assert verify("exact", "Answer: 3", None, {}).detail == "no gold answer"
    verdict = verify("exact", "I cannot tell.", "3", {})
    assert (verdict.correct, verdict.extracted, verdict.detail) == (False, None, "no answer found")
    assert not verify("exact", None, "3", {}).correct


def test_unknown_verifier_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown verifier 'fuzzy'"):
        verify("fuzzy", "Answer: 3", "3", {})
    assert VERIFIERS == ("reasoning_gym", "math", "exact", "regex", "composite")


def _prompts(entries):
    return pa.table({
        "prompt_id": ["rg0", "rg1", "m0"], "prompt": [e["question"] for e in entries[:2]] + ["1/2 = ?"],
        "answer": [entries[0]["answer"], entries[1]["answer"], "0.5"],
        "verifier": ["reasoning_gym", "reasoning_gym", "math"],
        "metadata": [json.dumps(entries[0]["metadata"]), json.dumps(entries[1]["metadata"]), None],
    })


def test_verdicts_table_uses_each_prompts_verifier(chain_sum_entries):
    prompts = _prompts(chain_sum_entries)
    generations = pa.table({
        "generation_id": ["g1", "g2", "g3", "g4"], "prompt_id": ["rg0", "rg0", "rg1", "m0"],
        "response": [f"Answer: {chain_sum_entries[0]['answer']}", "Answer: 100",
                     f"so it is {chain_sum_entries[1]['answer']}", "\\boxed{\\frac{1}{2}}"]})
    verdicts = verdicts_table(generations, prompts)
    assert verdicts.schema.names == [f.name for f in TABLES["verdicts"].schema if f.name != "run_id"]
    assert verdicts["correct"].to_pylist() == [True, False, True, True]
    assert verdicts["verifier"].to_pylist() == ["reasoning_gym", "reasoning_gym", "reasoning_gym", "math"]
    assert verdicts["detail"].to_pylist()[2].startswith("result_phrase")


def test_verdicts_table_names_the_bad_row(chain_sum_entries):
    prompts = _prompts(chain_sum_entries)
    orphan = pa.table({"generation_id": ["g9"], "prompt_id": ["nope"], "response": ["Answer: 1"]})
    with pytest.raises(InputError, match="generation g9: prompt nope"):
        verdicts_table(orphan, prompts)
    bad_json = prompts.set_column(4, "metadata", pa.array(["{oops", None, None]))
    with pytest.raises(InputError, match="prompt rg0: metadata"):
        verdicts_table(orphan, bad_json)


def test_composite_checks_each_part_with_the_given_checker():
    meta = {"parts": [{"verifier": "exact", "answer": "a"}, {"verifier": "exact", "answer": "b"}]}
    check = lambda v, e, a, m, q: (float(e == a), "")  # noqa: E731
    assert composite_check("(1) a (2) b", meta, check)[0] == 1.0
    assert composite_check("a; c", meta, check) == (0.5, "parts 1/0")
    assert verify("composite", "Answer: a; b", "a; b", meta).score == 1.0


def test_split_answer():
    assert split_answer("3; 4", 2) == ["3", "4"]
    assert split_answer("(1) 3, (2) 4.", 2) == ["3", "4"]
    assert split_answer("3; 4; 5", 2) is None and split_answer("3;", 2) is None


@pytest.mark.parametrize("task,response,gold,correct,detail", [
    ("basic_arithmetic", "Answer: 4,750", "4750", True, "answer_line; same number"),
    ("basic_arithmetic", "Answer: \u221210", "-10", True, "answer_line"),
    ("basic_arithmetic", "Answer: +5", "5", True, "answer_line; same number"),
    ("basic_arithmetic", "Answer: -2.0", "-2", True, "answer_line; same number"),
    ("letter_counting", "The letter r appears three times.", "3", True, "result_phrase; same number"),
    ("letter_counting", "Answer: 3 r's", "3", True, "answer_line"),
    ("chain_sum", "Answer: 20,00", "2000", False, "answer_line; malformed number"),  # chain_sum strips commas
    ("syllogism", "Answer: yes", "Yes", True, "answer_line"),
    ("syllogism", "No, it does not follow.", "No", True, "leading_yes_no"),
])
def test_reasoning_gym_sees_the_gold_spelling_of_an_equal_answer(task, response, gold, correct, detail):
    verdict = verify("reasoning_gym", response, gold, {"source_dataset": task})
    assert (verdict.correct, verdict.detail) == (correct, detail)


def test_reasoning_gym_scores_tasks_without_a_gold_answer_from_metadata():
    # propositional_logic prompts have answer None: the scorer checks the conclusion itself
    meta = {"source_dataset": "propositional_logic", "premises": ["P", "Q"], "variables": ["P", "Q"]}
    assert verify("reasoning_gym", "Answer: P ∧ Q", None, meta).correct
    trivial = verify("reasoning_gym", "Answer: P", None, meta)
    assert not trivial.correct and trivial.score == 0.25
    assert verify("exact", "Answer: P ∧ Q", None, meta).detail == "no gold answer"


def test_an_expression_copied_from_the_question_is_not_an_answer():
    question = "State the final answer to the following arithmetic problem: 7 + 4 ="
    copied = verify("math", "Answer: 7 + 4", "11", {}, question=question)
    assert not copied.correct and copied.detail == "answer_line; restates the question"
    assert verify("math", "Answer: 7 + 4", "11", {}).correct  # math-verify evaluates it without the guard
    assert verify("math", "Answer: 11", "11", {}, question=question).correct


@pytest.mark.parametrize("response,gold,correct", [
    ("Answer: 47,50", "4750", False),  # not a thousands grouping
    ("Answer: 4,750", "4750", True),
    ("Answer: 1 1/2", "1.5", True),
    ("Answer: three", "3", True),
    ("Answer: --10", "-10", False),  # a double minus is +10
])
def test_math_verifier_reads_numbers_like_a_person(response, gold, correct):
    assert verify("math", response, gold, {}).correct is correct


def test_leading_zeros_are_not_read_as_the_same_number():
    # a gold like "0110" may be a bit string; "011" is not "11" there
    assert not verify("reasoning_gym", "Answer: 110", "0110", {"source_dataset": "letter_counting"}).correct
    assert not verify("reasoning_gym", "Answer: 011", "11", {"source_dataset": "letter_counting"}).correct
