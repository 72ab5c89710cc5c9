"""Quality filters: every failed check leaves a filter_log row with a readable reason."""

import json

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curation.filters import (PromptQualityConfig, QualityConfig, ResponseQualityConfig, filter_prompts,
                              filter_responses)
from flows.eval_sets import bundled_dir
from schemas.errors import InputError
from schemas.tables import spec


def generations(rows):
    """rows: (response, finish_reason, n_tokens) triples."""
    return pa.table({"generation_id": [f"g{i}" for i in range(len(rows))],
                     "response": [r[0] for r in rows], "finish_reason": [r[1] for r in rows],
                     "n_tokens": pa.array([r[2] for r in rows], pa.int64())})


def reasons_by_row(drop_log):
    out = {}
    for row in drop_log.to_pylist():
        out.setdefault(row["record_id"], {})[row["step"]] = row["reason"]
    return out


def test_each_response_check_drops_with_its_reason():
    table = generations([
        ("3 + 4 = 7. Answer: 7", "stop", None),                   # g0 passes
        ("3 + 4 = 7 and then we keep going", "length", None),     # g1 truncated, no answer marker
        ("So the answer is \\boxed{7}", "stop", 5000),            # g2 too long by recorded n_tokens
        ("<answer>7</answer> " + "loop loop loop loop " * 30, "stop", None),  # g3 repetition
        ("Answer: 7 \x00\x01\x02\x03\ufffd", "stop", None),       # g4 garbled
        ("Ответ: семь, потому что три плюс четыре. Answer: 7", "stop", None),  # g5 charset
    ])
    result = filter_responses(table, ResponseQualityConfig(max_tokens=1000))
    kept, drops = result.kept, result.dropped
    assert kept.column("generation_id").to_pylist() == ["g0"]
    reasons = reasons_by_row(drops)
    assert set(reasons["g1"]) == {"quality.truncated", "quality.answer_format"}
    assert reasons["g1"]["quality.truncated"] == "finish_reason = 'length' (hit max_tokens)"
    assert reasons["g2"] == {"quality.length": "5000 tokens > max_tokens 1000"}
    assert list(reasons["g3"]) == ["quality.repetition"]
    assert list(reasons["g4"]) == ["quality.garbled"]
    assert list(reasons["g5"]) == ["quality.charset"]
    assert drops.column_names == [f.name for f in spec("filter_log").schema if f.name != "run_id"]
    assert set(drops.column("table_name").to_pylist()) == {"generations"}


def test_checks_can_be_switched_off():
    table = generations([("no marker here", "length", None)])
    cfg = ResponseQualityConfig(drop_truncated=False, require_answer_format=False)
    result = filter_responses(table, cfg)
    kept, drops = result.kept, result.dropped
    assert kept.num_rows == 1 and drops.num_rows == 0


def test_answer_formats_match_what_extraction_reads():
    texts = ["<answer>7</answer>", "\\boxed{7}", "The final answer is 7", "**Answer:** 7", "ANSWER: 7",
             "I think it is 7", "answered nothing"]
    kept = filter_responses(generations([(t, "stop", None) for t in texts]), ResponseQualityConfig()).kept
    assert kept.column("response").to_pylist() == texts[:5]


def test_prompt_filter_keeps_every_bundled_eval_question():
    questions = [json.loads(line)["question"] for path in sorted(bundled_dir().glob("*.jsonl"))
                 for line in path.read_text().splitlines()]
    table = pa.table({"prompt_id": [str(i) for i in range(len(questions))], "prompt": questions})
    result = filter_prompts(table, PromptQualityConfig())
    kept, drops = result.kept, result.dropped
    assert drops.num_rows == 0 and kept.num_rows == len(questions) == 400


def test_prompt_length_bounds_and_empty_prompts():
    table = pa.table({"prompt_id": ["a", "b", "c"], "prompt": ["", None, "What is 2 + 2 ?"]})
    result = filter_prompts(table, PromptQualityConfig(min_tokens=2, max_tokens=4))
    kept, drops = result.kept, result.dropped
    assert kept.num_rows == 0
    assert reasons_by_row(drops) == {"a": {"quality.length": "0 tokens < min_tokens 2"},
                                     "b": {"quality.length": "0 tokens < min_tokens 2"},
                                     "c": {"quality.length": "6 tokens > max_tokens 4"}}


@pytest.mark.parametrize("bad", [{"max_repetition": 1.5}, {"max_garbled": -0.1}, {"min_tokens": -1},
                                 {"allowed_scripts": ["Klingon"]}, {"answer_patterns": ["(unclosed"]},
                                 {"max_tokenz": 5}])
def test_bad_quality_configs_are_rejected(bad):
    with pytest.raises(ValidationError):
        ResponseQualityConfig(**bad)


def test_quality_config_groups_both_and_missing_column_errors():
    cfg = QualityConfig.model_validate({"prompts": {"max_tokens": 100}, "responses": {"drop_truncated": False}})
    assert cfg.prompts.max_tokens == 100 and not cfg.responses.drop_truncated
    with pytest.raises(InputError, match="no column 'response'"):
        filter_responses(pa.table({"generation_id": ["g"]}), cfg.responses)
