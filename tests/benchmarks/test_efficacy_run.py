"""benchmarks/efficacy.py's orchestration on fake library calls (no curation, no models): which arms
train, which reuse a run or a checkpoint, resuming, and the interrupted status."""

import json
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest

from benchmarks.efficacy import run
from benchmarks.efficacy_config import load_efficacy_config

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "efficacy.yaml"


class FakeCalls:
    """The calls of benchmarks/efficacy_calls.py over a made-up lake; counts train and eval calls."""

    def __init__(self, fail_on: str | None = None):
        self.trained, self.evaluated, self.fail_on, self.options = [], [], fail_on, []

    def curate(self, config, per_task, overrides, lake_dir, *, smoke=False):
        cfg = SimpleNamespace(splits=SimpleNamespace(sft="sft", rl="rl"), prompt_format=None,
                              sft=SimpleNamespace(gold_template="Answer: {answer}"))
        return cfg, SimpleNamespace(path=lake_dir), True

    def split_rows(self, lake, kind, name):
        if kind == "sft":
            return name, [{"prompt_id": f"p{i}", "origin": "self", "messages": [
                {"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "long reasoning " * 3}]}
                for i in range(6)]
        return name, [{"prompt_id": f"p{i}", "task": "t"} for i in range(3)]

    def prompt_pool(self, lake, fmt):
        return [{"prompt_id": f"p{i}", "task": "t", "prompt": f"q{i}", "raw_prompt": f"q{i}", "answer": str(i)}
                for i in range(8)]

    def sft_token_counters(self, options, model):
        def count(rows, roles=("user", "assistant")):
            return [sum(len(m["content"]) for m in r["messages"] if m["role"] in roles) for r in rows]

        return count, lambda rows: count(rows, ("assistant",))

    def eval_prompts(self, tasks, per_task):
        return pa.table({"prompt": ["e1", "e2"]})

    def conversation_of(self, fmt):
        return lambda text: [{"role": "user", "content": text}]

    def write_rows(self, rows, path):
        return path

    def train(self, trainer, options, *, lake, seed, start, out, run_id, split=None, data=None):
        if trainer == self.fail_on:
            raise RuntimeError("boom")
        self.trained.append((trainer, split or "file", seed, start))
        self.options.append(options)
        out.mkdir(parents=True)
        every = options.get("save_interval")
        for step in range(every, options["max_steps"], every) if every else []:
            (out / f"checkpoint-{step}").mkdir()
        return {"steps": options.get("max_steps", 1), "config": options, "tokens": 10}

    def evaluate(self, model, prompts, fmt, *, backend, temperature, max_tokens, seed, backend_options):
        self.evaluated.append((model, seed))
        return {"accuracy": 0.5, "n": 2, "correct": 1, "per_task": {"t": [2, 1]}, "mean_tokens": 3.0}


@pytest.fixture
def cfg(tmp_path):
    return load_efficacy_config(CONFIG, None, [f"work_dir={tmp_path / 'work'}", f"results_dir={tmp_path / 'res'}",
                                              "seeds=[0, 1]", "budget.sft_shares=[0.0, 0.5]",
                                              "grpo.max_steps=2", "grpo.batch_size=1"])


def test_identical_arms_run_once_prefixes_are_reused_and_a_rerun_resumes(cfg):
    calls = FakeCalls()
    results = {(r["arm"], r["seed"]): r for r in run(cfg, calls)}
    # per seed: 3 SFT arms, grpo_base, grpo_warm's GRPO stage, grpo_random, budget_50's two stages,
    # the two long GRPO runs (the warm one's SFT stage is sft_curated's)
    assert len(calls.trained) == 2 * 10
    assert sum(1 for t in calls.trained if t[0] == "sft" and t[1] == "sft") == 2  # warm-up reused twice
    # greedy base once; budget_00 is grpo_base; each long run: its end and checkpoints after 20 and 40 steps
    assert len(calls.evaluated) == 1 + 2 * (7 + 2 * 3)
    assert results[("budget_00", 1)]["same_run_as"] == "grpo_base.seed1"
    assert results[("base", 1)]["same_run_as"] == "base.seed0"
    warm = results[("grpo_warm", 0)]["stages"]
    assert [s["trainer"] for s in warm] == ["sft", "grpo"] and warm[0]["reused"]
    budget = results[("budget_50", 0)]["stages"]
    assert budget[0]["data_facts"]["rows"] == 1 and budget[1]["steps"] == 1
    long = results[("grpo_warm_long", 1)]
    assert long["eval_at_steps"] == [20, 40, 60] and sorted(long["eval_at"]) == ["20", "40"]
    assert long["stages"][0]["reused"] and long["stages"][1]["config"]["lr_schedule"] == "constant"
    assert [o.get("save_interval") for o in calls.options if o.get("max_steps") == 60] == [20] * 4
    assert calls.evaluated[-1][0].endswith("checkpoint-40")
    again = FakeCalls()
    run(cfg, again)
    assert again.trained == [] and again.evaluated == []
    experiment = json.loads((cfg.results_dir / "experiment.json").read_text())
    assert experiment["status"] == "finished" and experiment["mode"] == "full"


def test_a_failed_run_is_recorded_as_interrupted(cfg):
    with pytest.raises(RuntimeError):
        run(cfg, FakeCalls(fail_on="grpo"))
    experiment = json.loads((cfg.results_dir / "experiment.json").read_text())
    assert experiment["status"] == "interrupted"
    assert (cfg.results_dir / "runs" / "sft_curated.seed1.json").exists()


@pytest.mark.parametrize("measure", ["label", "all"])
def test_equal_tokens_pads_gold_rows_to_the_measured_tokens(tmp_path, measure):
    cfg = load_efficacy_config(CONFIG, None, [f"work_dir={tmp_path / 'work'}", f"results_dir={tmp_path / 'res'}",
                                              "seeds=[0]", "budget.sft_shares=[]", f"gold_tokens={measure}"])
    results = {r["arm"]: r for r in run(cfg, FakeCalls())}
    curated = json.loads((cfg.results_dir / "experiment.json").read_text())["curate"]["sft"]
    gold = results["sft_gold_tokens"]["stages"][0]["data_facts"]
    key = "label_tokens" if measure == "label" else "tokens"
    assert gold[key] >= curated[key] and gold["rows"] > curated["rows"] == results["sft_gold_rows"]["stages"][0][
        "data_facts"]["rows"]
    assert gold["rows"] == {"label": 30, "all": 26}[measure]
