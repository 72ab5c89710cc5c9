"""Decontamination: exact copies and embedded eval items go; template-sharing prompts stay."""

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curation.decontam import DecontamConfig, decontaminate
from flows.eval_sets import load_eval_sets

GSM_LIKE = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
            "How many clips did Natalia sell altogether in April and May?")


def gcd_question(a, b):
    return (f"Find the Greatest Common Divisor (GCD) of these numbers: {a}, {b}. "
            "Give only the GCD as your final answer.")


EVAL = {"gsm": [GSM_LIKE, "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total?"],
        "gcd": [gcd_question(a, b) for a, b in [(12, 18), (7, 14), (9, 15), (4, 10), (20, 8), (3, 11)]]}


def prompts(texts):
    return pa.table({"prompt_id": [f"p{i}" for i in range(len(texts))], "prompt": texts})


def test_copies_and_embeddings_are_dropped_with_the_benchmark_named():
    table = prompts([
        GSM_LIKE.upper(),                                         # p0 identical up to case
        "Solve this carefully. " + GSM_LIKE + " Show your work.",  # p1 embeds the item
        gcd_question(12, 18),                                     # p2 identical templated item
        gcd_question(12, 19),                                     # p3 same template, other numbers
        "How many legs do 3 spiders have?",                       # p4 unrelated
    ])
    result = decontaminate(table, DecontamConfig(), eval_sets=EVAL)
    kept, drops = result.kept, result.dropped
    hits, matches = result.side["decontam_hits"], result.side["decontam_matches"]
    assert kept.column("prompt_id").to_pylist() == ["p3", "p4"]
    reasons = dict(zip(drops.column("record_id").to_pylist(), drops.column("reason").to_pylist()))
    assert reasons["p0"] == "identical to eval set 'gsm' item 0"
    assert reasons["p1"].startswith("8-gram overlap with eval set 'gsm' item 0 (covers 100%")
    assert reasons["p2"] == "identical to eval set 'gcd' item 0"
    by_benchmark = {row["benchmark"]: row for row in hits.to_pylist()}
    assert by_benchmark["gsm"]["n_prompts_hit"] == 2 and by_benchmark["gsm"]["n_exact"] == 1
    assert by_benchmark["gcd"]["n_prompts_hit"] == 1 and by_benchmark["gcd"]["n_eval_items"] == 6
    assert set(matches.column("record_id").to_pylist()) == {"p0", "p1", "p2"}


def test_template_ngrams_would_match_everything_without_the_template_rule():
    table = prompts([gcd_question(13, 19)])
    cfg = DecontamConfig(n=8, min_coverage=0.01, template_share=None)
    assert decontaminate(table, cfg, eval_sets=EVAL).kept.num_rows == 0
    with_rule = decontaminate(table, cfg.model_copy(update={"template_share": 0.2}), eval_sets=EVAL)
    assert with_rule.kept.num_rows == 1
    assert with_rule.side["decontam_hits"].to_pylist()[0]["n_template_ngrams"] > 0  # gcd is the first benchmark


def test_report_only_mode_keeps_everything():
    table = prompts([GSM_LIKE, "unrelated"])
    result = decontaminate(table, DecontamConfig(drop=False), eval_sets=EVAL)
    kept, drops = result.kept, result.dropped
    hits, matches = result.side["decontam_hits"], result.side["decontam_matches"]
    assert kept.num_rows == 2 and drops.num_rows == 0
    assert matches.num_rows == 1 and hits.column("dropped").to_pylist() == [False, False]


def test_short_n_catches_short_overlaps():
    eval_sets = {"tiny": ["what is seven times six"]}
    table = prompts(["Quick one: what is seven times six? Thanks"])
    cfg = DecontamConfig(n=13, contained_min_tokens=None)
    assert decontaminate(table, cfg, eval_sets=eval_sets).kept.num_rows == 1  # 13-grams: no overlap
    assert decontaminate(table, cfg.model_copy(update={"n": 5}), eval_sets=eval_sets).kept.num_rows == 0


def test_bundled_sets_drop_only_verbatim_training_prompts():
    import reasoning_gym

    data = reasoning_gym.create_dataset("gcd", size=60, seed=1, min_numbers=2, max_numbers=2, max_value=20)
    questions = [data[i]["question"] for i in range(60)]
    eval_sets = load_eval_sets(["bundled"])
    result = decontaminate(prompts(questions), DecontamConfig(), eval_sets=eval_sets)
    drops = result.dropped
    verbatim = {f"p{i}" for i, q in enumerate(questions) if q in eval_sets["gcd"]}
    assert verbatim and set(drops.column("record_id").to_pylist()) == verbatim


@pytest.mark.parametrize("bad", [{"n": 0}, {"min_coverage": 0}, {"min_coverage": 1.2},
                                 {"template_share": 0}, {"ngram": 13}, {"contained_min_tokens": 0},
                                 {"paraphrase": {"benchmarks": []}},
                                 {"paraphrase": {"benchmarks": ["gsm"], "threshold": 1.5}}])
def test_bad_decontam_configs_are_rejected(bad):
    with pytest.raises(ValidationError):
        DecontamConfig(**bad)


def test_results_commit_to_the_lake_and_answer_sql(lake):
    table = prompts([GSM_LIKE, "unrelated"])
    result = decontaminate(table, DecontamConfig(), eval_sets=EVAL)
    lake.commit({"filter_log": result.dropped, **result.side}, run_id="run-1")
    why = lake.query("SELECT step, reason FROM filter_log WHERE record_id = 'p0'").to_pylist()
    assert why == [{"step": "decontam", "reason": "identical to eval set 'gsm' item 0"}]
    hits = lake.query("SELECT benchmark, n_prompts_hit FROM decontam_hits ORDER BY benchmark").to_pylist()
    assert hits == [{"benchmark": "gcd", "n_prompts_hit": 0}, {"benchmark": "gsm", "n_prompts_hit": 1}]


LEGS = "Count the legs in total.\n\nNow, how many legs are there in total if you have {animals}?\n"
SYLLOGISM = ("Consider these statements:\n1. All spiders are horses\n2. All horses are mortals\n\n"
             "Does it logically follow that:\nSome mortals are horses?\n(Answer Yes or No)")


def dropped_ids(table, eval_sets, cfg):
    return sorted(decontaminate(table, cfg, eval_sets=eval_sets).dropped.column("record_id").to_pylist())


def test_ignoring_punctuation_catches_renumbered_and_repunctuated_copies():
    eval_sets = {"syllogism": [SYLLOGISM, SYLLOGISM.replace("spiders", "birds").replace("mortals", "ants")]}
    table = prompts([SYLLOGISM.replace("1. ", "(1) ").replace("2. ", "(2) ").replace(":", "")
                     .replace("?", "."),                                          # p0 re-numbered, re-punctuated
                     SYLLOGISM.replace("spiders", "cats").replace(":", ""),       # p1 another item
                     SYLLOGISM.replace("1. ", "- ").replace("2. ", "* ").replace("(Answer Yes or No)",
                                                                                 "[Answer 'Yes' or 'No']!")])  # p2
    assert dropped_ids(table, eval_sets, DecontamConfig()) == ["p0", "p2"]
    assert dropped_ids(table, eval_sets, DecontamConfig(ignore_punctuation=False)) == []


def test_a_longer_question_that_starts_with_an_item_is_not_that_item():
    eval_sets = {"legs": [LEGS.format(animals=a) for a in ["2 sea slugs", "3 dogs, 1 wasp", "1 crab"]]}
    table = prompts([LEGS.format(animals="2 sea slugs, 1 lion"),                  # p0 extends item 0
                     "Please solve: " + LEGS.format(animals="2 sea slugs") + "\nThink first."])  # p1 embeds it
    assert dropped_ids(table, eval_sets, DecontamConfig()) == ["p1"]


def test_short_items_are_found_inside_longer_prompts():
    eval_sets = {"arith": ["Calculate -1 + -2.", "Calculate ( -9 + -6 ).", "Calculate 4 * 3."]}
    table = prompts(["Question: Calculate -1 + -2.\nAnswer: let's think step by step.",  # p0 contains item 0
                     "Calculate -1 + -2 * 2.",                                         # p1 a longer expression
                     "Calculate 4 * 3."])                                              # p2 identical
    result = decontaminate(table, DecontamConfig(), eval_sets=eval_sets)
    reasons = dict(zip(result.dropped.column("record_id").to_pylist(), result.dropped.column("reason").to_pylist()))
    assert reasons == {"p0": "contains eval set 'arith' item 0 (all its tokens, in order)",
                       "p2": "identical to eval set 'arith' item 2"}
    assert dropped_ids(table, eval_sets, DecontamConfig(contained_min_tokens=None)) == ["p2"]


WORD_PROBLEM = ("Mike was a pen pal with {a} people. He stopped being penpals with {b} of them. They each send 3 "
                "letters a week that are 9 pages long. He responds in kind. He can write a page every 10 minutes. "
                "How many hours does he spend writing a week?")


def test_masked_numbers_catch_word_problems_with_changed_numbers_but_not_templated_items():
    eval_sets = {"gsm": [WORD_PROBLEM.format(a=15, b=5), GSM_LIKE], "gcd": EVAL["gcd"]}
    table = prompts([WORD_PROBLEM.format(a=17, b=4),                                # p0 changed numbers
                     gcd_question(13, 19),                                          # p1 another gcd item
                     GSM_LIKE.replace("Natalia", "Jo").replace("clips", "pens")])   # p2 other words
    assert dropped_ids(table, eval_sets, DecontamConfig()) == []
    result = decontaminate(table, DecontamConfig(mask_numbers=True), eval_sets=eval_sets)
    assert result.dropped.column("record_id").to_pylist() == ["p0"]
    assert "with numbers masked with eval set 'gsm' item 0" in result.dropped.column("reason")[0].as_py()
    assert result.side["decontam_matches"].column("kind").to_pylist() == ["masked_ngram"]


def test_chunks_find_the_same_matches_as_one_pass(monkeypatch):
    from curation import decontam

    texts = [GSM_LIKE, "unrelated", gcd_question(12, 18), "Solve: " + GSM_LIKE, "x"] * 3
    table = pa.table({"prompt_id": [f"p{i}" for i in range(len(texts))], "prompt": texts})
    whole = decontaminate(table, DecontamConfig(), eval_sets=EVAL)
    monkeypatch.setattr(decontam, "CHUNK_PROMPTS", 2)
    chunked = decontaminate(table, DecontamConfig(), eval_sets=EVAL)
    assert chunked.side["decontam_matches"].to_pylist() == whole.side["decontam_matches"].to_pylist()
    assert chunked.dropped.to_pylist() == whole.dropped.to_pylist() and whole.dropped.num_rows == 9
