"""The hygiene stage hands decontamination the MiniLM embedder only when the paraphrase rule is on."""

import numpy as np
import pyarrow as pa

from flows.config import validate
from flows.stages import StageOutput, hygiene

EVAL = {"gsm": ["Mike had 15 pen pals and dropped 5. Each sends 3 letters a week. How many letters a week?"]}
PARAPHRASE = "How many letters does Mike get weekly? He kept 10 of his 15 pen pals, 3 letters each."


class PenPalEmbedder:
    def encode(self, texts):
        return np.array([[1.0, 0.0] if "pen pal" in t else [0.0, 1.0] for t in texts], np.float32)


def clean(decontam: dict, monkeypatch) -> tuple[list[str], int]:
    loads = []
    monkeypatch.setattr(hygiene, "_minilm", lambda: loads.append(1) or PenPalEmbedder())
    cfg = validate({"sources": [{"type": "jsonl", "path": "x.jsonl"}], "quality": None,
                    "dedup": {"exact": None, "near": None}, "decontam": decontam})
    prompts = pa.table({"prompt_id": ["p0", "p1"], "prompt": [PARAPHRASE, "Count the legs of 2 ants."]})
    kept = hygiene.clean_prompts(prompts, cfg, EVAL, StageOutput())
    return kept.column("prompt_id").to_pylist(), len(loads)


def test_paraphrase_rule_loads_the_embedder_and_drops_the_paraphrase(monkeypatch):
    assert clean({"sources": ["bundled"]}, monkeypatch) == (["p0", "p1"], 0)
    on = {"sources": ["bundled"], "paraphrase": {"benchmarks": ["gsm"]}}
    assert clean(on, monkeypatch) == (["p1"], 1)
