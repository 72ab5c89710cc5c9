"""The hygiene stage hands decontamination the run's MiniLM only when the paraphrase rule is on,
and loads it then (once per run)."""

import numpy as np
import pyarrow as pa

import curation.embeddings
from flows.config import validate
from flows.stages import hygiene
from flows.stages.state import CurationState

EVAL = {"gsm": ["Mike had 15 pen pals and dropped 5. Each sends 3 letters a week. How many letters a week?"]}
PARAPHRASE = "How many letters does Mike get weekly? He kept 10 of his 15 pen pals, 3 letters each."


class PenPalEmbedder:
    def encode(self, texts):
        return np.array([[1.0, 0.0] if "pen pal" in t else [0.0, 1.0] for t in texts], np.float32)


def clean(decontam: dict, monkeypatch) -> tuple[list[str], int, int]:
    """Kept prompt ids after clean_prompts, MiniLM loads by then, and loads after a later step's ask."""
    loads = []
    monkeypatch.setattr(curation.embeddings, "load_minilm", lambda: loads.append(1) or PenPalEmbedder())
    cfg = validate({"sources": [{"type": "jsonl", "path": "x.jsonl"}], "quality": None,
                    "dedup": {"exact": None, "near": None}, "decontam": decontam})
    prompts = pa.table({"prompt_id": ["p0", "p1"], "prompt": [PARAPHRASE, "Count the legs of 2 ants."]})
    state = CurationState(cfg=cfg, lake=None, backend=None, run_id="r", summary=None, prompts=prompts,
                          eval_sets=EVAL)
    hygiene.clean_prompts(state)
    loaded = len(loads)
    state.minilm()
    return state.prompts.column("prompt_id").to_pylist(), loaded, len(loads)


def test_paraphrase_rule_loads_the_embedder_and_drops_the_paraphrase(monkeypatch):
    assert clean({"sources": ["bundled"]}, monkeypatch) == (["p0", "p1"], 0, 1)
    on = {"sources": ["bundled"], "paraphrase": {"benchmarks": ["gsm"]}}
    assert clean(on, monkeypatch) == (["p1"], 1, 1)  # the later ask reuses the run's model
