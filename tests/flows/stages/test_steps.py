"""Adding a curation step takes one function, one line in a stage's declared list and one config
field: a toy filter that drops prompts containing a word runs inside a real curate run."""

import json

import pyarrow as pa
import pytest
from pydantic import BaseModel

from curation.step import StepResult, keep_rows
from fake_policy import curate_with_fake_policy
from flows.config import CurateConfig
from flows.sources import load_prompts
from flows.stages import hygiene
from flows.stages.state import CurationState
from flows.stages.steps import Step, run_steps
from schemas.lake import Lake

QUESTIONS = ["How many legs does a zebra have?", "What is 3 + 4?", "Is a zebra striped or spotted?",
             "What is 10 - 7?", "How many sides has a triangle?"]


class BannedWordConfig(BaseModel):
    """The toy step's config: prompts containing `word` are dropped."""

    word: str


def drop_banned_word(prompts: pa.Table, cfg: BannedWordConfig) -> StepResult:
    """The toy step: keep a prompt, or drop it with the reason."""
    reasons = [f"contains '{cfg.word}'" if cfg.word in text.lower() else None
               for text in prompts.column("prompt").to_pylist()]
    return keep_rows(prompts, {"banned_word": reasons}, id_column="prompt_id", table_name="prompts")


class ToyConfig(CurateConfig):
    """The one config field the toy step adds."""

    banned_word: BannedWordConfig | None = None


def toy_config(folder, **over) -> ToyConfig:
    source = folder / "questions.jsonl"
    source.write_text("".join(json.dumps({"prompt": q, "answer": str(i)}) + "\n" for i, q in enumerate(QUESTIONS)))
    raw = {"lake": str(folder / "lake"), "backend": "openai", "model": "fake-policy", "decontam": None,
           "sources": [{"type": "jsonl", "path": str(source), "verifier": "exact"}],
           "sampling": {"k": 2, "max_tokens": 32}}
    return ToyConfig.model_validate({**raw, **over})


@pytest.fixture
def with_toy_step(monkeypatch):
    """The one line: the toy step appended to the declared prompt steps."""
    step = Step("banned_word", "prompts", lambda s: s.cfg.banned_word, drop_banned_word)
    monkeypatch.setattr(hygiene, "PROMPT_STEPS", [*hygiene.PROMPT_STEPS, step])


def test_a_toy_filter_drops_and_logs_prompts_in_a_curate_run(with_toy_step, tmp_path, monkeypatch):
    cfg = toy_config(tmp_path, banned_word={"word": "zebra"})
    summary = curate_with_fake_policy(cfg, monkeypatch)
    lake = Lake(tmp_path / "lake")
    prompts = lake.query("SELECT prompt FROM prompts ORDER BY prompt").column("prompt").to_pylist()
    assert prompts == sorted(q for q in QUESTIONS if "zebra" not in q)
    zebra_ids = {p["prompt_id"] for p in load_prompts(cfg.sources).to_pylist() if "zebra" in p["prompt"]}
    logged = lake.query("SELECT record_id, table_name, reason FROM filter_log WHERE step = 'banned_word'")
    assert sorted(logged.to_pylist(), key=str) == sorted(
        ({"record_id": pid, "table_name": "prompts", "reason": "contains 'zebra'"} for pid in zebra_ids), key=str)
    assert summary.stages[0][2]["dropped:banned_word"] == 2


def test_without_its_config_field_the_toy_step_is_off(with_toy_step, tmp_path, monkeypatch):
    curate_with_fake_policy(toy_config(tmp_path), monkeypatch)
    lake = Lake(tmp_path / "lake")
    assert lake.query("SELECT count(*) AS n FROM prompts").to_pylist() == [{"n": len(QUESTIONS)}]
    assert lake.query("SELECT count(*) AS n FROM filter_log WHERE step = 'banned_word'").to_pylist() == [{"n": 0}]


def test_run_steps_replaces_the_state_table_and_queues_drops(tmp_path):
    cfg = toy_config(tmp_path, banned_word={"word": "zebra"})
    prompts = pa.table({"prompt_id": [f"p{i}" for i in range(len(QUESTIONS))], "prompt": QUESTIONS})
    state = CurationState(cfg=cfg, lake=None, backend=None, run_id="r", summary=None, prompts=prompts)
    run_steps(state, [Step("banned_word", "prompts", lambda s: s.cfg.banned_word, drop_banned_word)])
    assert state.prompts.column("prompt_id").to_pylist() == ["p1", "p3", "p4"]
    assert state.out.merged()["filter_log"].column("record_id").to_pylist() == ["p0", "p2"]
    assert state.out.counts == {"dropped:banned_word": 2}
    state.prompts = prompts.slice(0, 0)  # an empty table skips the step
    run_steps(state, [Step("banned_word", "prompts", lambda s: s.cfg.banned_word, drop_banned_word)])
    assert state.out.counts == {"dropped:banned_word": 2}
