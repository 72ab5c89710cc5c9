"""Paraphrase decontamination: MiniLM similarity for the benchmarks the config names, off by default."""

import numpy as np
import pyarrow as pa
import pytest

from curation.decontam import DecontamConfig, decontaminate
from schemas.errors import ConfigError, ModelError

PEN_PAL = ("Mike was a pen pal with 15 people. He stopped being penpals with 5 of them. They each send 3 letters "
           "a week that are 9 pages long. He responds in kind. He can write a page every 10 minutes. How many "
           "hours does he spend writing a week?")
PEN_PAL_REWORDED = ("How many hours per week does Mike spend writing? Here is the situation: Mike used to have 15 "
                    "pen pals and dropped 5 of them. Every remaining one sends him 3 letters of 9 pages each week, "
                    "and he answers each letter the same way, writing one page in 10 minutes.")
ROBE = "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total does it take?"
GCD = [f"Find the Greatest Common Divisor (GCD) of these numbers: {a}, {b}." for a, b in [(12, 18), (7, 14)]]
EVAL = {"gsm": [PEN_PAL, ROBE], "gcd": GCD}


class TopicEmbedder:
    """Texts about the same story (keyword) get the same unit vector: a stand-in for MiniLM."""

    TOPICS = ("pen pal", "robe", "common divisor", "legs")

    def encode(self, texts):
        out = np.zeros((len(texts), len(self.TOPICS) + 1), np.float32)
        for i, text in enumerate(texts):
            hit = next((k for k, topic in enumerate(self.TOPICS) if topic in text.lower()), len(self.TOPICS))
            out[i, hit] = 1.0
        return out


def prompts(texts):
    return pa.table({"prompt_id": [f"p{i}" for i in range(len(texts))], "prompt": texts})


def test_paraphrases_of_named_benchmarks_are_dropped_only_when_the_rule_is_on():
    table = prompts([PEN_PAL_REWORDED,                                         # p0 a paraphrase
                     "What is the greatest common divisor of 12 and 18?",      # p1 a gcd paraphrase
                     "How many legs do 3 spiders have?"])                      # p2 unrelated
    off = decontaminate(table, DecontamConfig(), eval_sets=EVAL, embedder=TopicEmbedder())
    assert off.dropped.num_rows == 0
    on_cfg = DecontamConfig(paraphrase={"benchmarks": ["gsm"]})
    on = decontaminate(table, on_cfg, eval_sets=EVAL, embedder=TopicEmbedder())
    assert on.dropped.column("record_id").to_pylist() == ["p0"]
    assert on.dropped.column("reason")[0].as_py() == "paraphrase of eval set 'gsm' item 0 (MiniLM cosine 1.00)"
    assert on.side["decontam_matches"].select(["benchmark", "eval_index", "kind"]).to_pylist() == [
        {"benchmark": "gsm", "eval_index": 0, "kind": "embedding"}]
    both = DecontamConfig(paraphrase={"benchmarks": ["gsm", "gcd"]})
    dropped = decontaminate(table, both, eval_sets=EVAL, embedder=TopicEmbedder()).dropped
    assert dropped.column("record_id").to_pylist() == ["p0", "p1"]


def test_paraphrase_rule_names_unknown_benchmarks_and_needs_an_embedder():
    table = prompts([PEN_PAL_REWORDED])
    unknown = DecontamConfig(paraphrase={"benchmarks": ["gsm8k"]})
    with pytest.raises(ConfigError, match="no eval set named gsm8k"):
        decontaminate(table, unknown, eval_sets=EVAL, embedder=TopicEmbedder())
    with pytest.raises(ModelError, match="MiniLM"):
        decontaminate(table, DecontamConfig(paraphrase={"benchmarks": ["gsm"]}), eval_sets=EVAL)


@pytest.mark.slow
def test_bundled_minilm_tells_a_reworded_word_problem_from_another_one(minilm):
    table = prompts([PEN_PAL_REWORDED, "Jo has 3 times as many kiwis as apples and 35 apples. How many fruits?"])
    cfg = DecontamConfig(paraphrase={"benchmarks": ["gsm"], "threshold": 0.9})
    result = decontaminate(table, cfg, eval_sets=EVAL, embedder=minilm)
    assert result.dropped.column("record_id").to_pylist() == ["p0"]
    assert decontaminate(table, DecontamConfig(), eval_sets=EVAL, embedder=minilm).dropped.num_rows == 0
