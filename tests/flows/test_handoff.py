"""`warmstart export --format verl|openrlhf|trl`: each engine's layout, loaded with `datasets`, and
the curation verifiers called the way each engine calls its reward function."""

import json

import pyarrow as pa
import pytest

from curation import split_builders as curated
from curation.generate import PromptFormat, conversation
from curation.rewards import compute_score, correctness_reward, reward_func
from curation.verifiers import verify
from flows.cli import main
from flows.config import ReasoningGymSource, validate
from flows.run_record import RunRecord
from flows.sources import load_reasoning_gym
from schemas.errors import ConfigError, SplitError
from schemas.lake import Lake
from schemas.split_registry import register_split

SYSTEM, SUFFIX = "You are a careful solver.", "\n\nEnd with 'Answer: X'."
RATES = [0.25, 0.5, 0.75, 0.125]


def curate_run(lake: Lake, run_id: str, prompt_format: dict, prompts: pa.Table, split: str) -> pa.Table:
    """What a curate run leaves for an rl split: its config in `runs`, rl_prompts rows, the split."""
    cfg = validate({"sources": [{"type": "reasoning_gym", "task": "chain_sum", "count": 1}],
                    "prompt_format": prompt_format})
    stats = pa.table({"prompt_id": prompts["prompt_id"], "pass_rate": RATES[:prompts.num_rows]})
    rl = curated.rl_prompts(prompts, stats, cfg.prompt_format, curated.RLConfig())
    RunRecord(lake, run_id, "curate", cfg.model_dump_json(), None).write("completed")
    lake.commit({"prompts": prompts, "rl_prompts": rl}, run_id=run_id)
    register_split(lake, split, "rl", rl["prompt_id"].to_pylist(), run_id=run_id)
    return rl


def extra_prompts() -> pa.Table:
    """Prompts of the other verifiers: exact match and math."""
    rows = [{"prompt_id": "exact-1", "source": "test", "task": "capital", "prompt": "Capital of France?",
             "answer": "Paris", "verifier": "exact", "metadata": "{}", "split_guard": "train"},
            {"prompt_id": "math-1", "source": "test", "task": "frac", "prompt": "Half of one?",
             "answer": "1/2", "verifier": "math", "metadata": "{}", "split_guard": "train"}]
    return pa.Table.from_pylist(rows, schema=load_reasoning_gym(
        ReasoningGymSource(type="reasoning_gym", task="chain_sum", count=1)).schema)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """Split `rl` (system message + own suffix, three verifiers), `rl_default` (the default
    format, another run), `pairs` and `sft`, and `orphan` (an rl split with no recorded run)."""
    lake = Lake(tmp_path_factory.mktemp("handoff") / "lake")
    gym = load_reasoning_gym(ReasoningGymSource(type="reasoning_gym", task="chain_sum", count=2, seed=3))
    prompts = pa.concat_tables([gym, extra_prompts()])
    curate_run(lake, "run-a", {"system": SYSTEM, "suffix": SUFFIX}, prompts, "rl")
    curate_run(lake, "run-b", {}, load_reasoning_gym(
        ReasoningGymSource(type="reasoning_gym", task="chain_sum", count=1, seed=9)), "rl_default")
    fmt = PromptFormat(system=SYSTEM, suffix=SUFFIX)
    lake.commit({"preference_pairs": [{"pair_id": "pair-1", "prompt_id": "exact-1", "prompt": fmt.user_text(
        "Capital of France?"), "chosen": "Answer: Paris", "rejected": "Answer: Lyon", "chosen_score": 1.0,
        "rejected_score": 0.0, "pair_kind": "outcome"}],
        "sft_examples": [{"example_id": "ex-1", "prompt_id": "exact-1", "origin": "model", "messages": conversation(
            "Capital of France?", fmt) + [{"role": "assistant", "content": "Answer: Paris"}]}]}, run_id="run-a")
    register_split(lake, "pairs", "preference", ["pair-1"], run_id="run-a")
    register_split(lake, "sft", "sft", ["ex-1"], run_id="run-a")
    lake.commit({"rl_prompts": [{"prompt_id": "orphan-1", "task": "t", "prompt": "q", "answer": "1",
                                 "verifier": "exact", "metadata": "{}", "pass_rate": 0.5, "curriculum_stage": 0}]},
                run_id="hand-made")
    register_split(lake, "orphan", "rl", ["orphan-1"], run_id="hand-made")
    return lake


def export(lake, tmp_path, split: str, fmt: str, capsys) -> tuple:
    """Run the CLI; return the loaded dataset, the manifest and what it printed."""
    import datasets

    out = tmp_path / fmt
    assert main(["export", split, "--to", str(out), "--format", fmt, "--lake", str(lake.location)]) == 0
    manifest = json.loads((out / f"{split}.manifest.json").read_text())
    builder = "json" if manifest["file"].endswith(".jsonl") else "parquet"
    data = datasets.load_dataset(builder, data_files=str(out / manifest["file"]), split="train")
    return data, manifest, capsys.readouterr().out


def lake_rows(lake, split: str = "rl") -> dict[str, dict]:
    """The split's rl_prompts rows by prompt_id, with the raw question of each."""
    from schemas.split_registry import read_split

    rows = {row["prompt_id"]: row for row in read_split(lake, split).rows.to_pylist()}
    questions = {r["prompt_id"]: r["prompt"] for r in lake.read("prompts").to_pylist()}
    return {pid: {**row, "question": questions[pid]} for pid, row in rows.items()}


def curated_chat(row: dict) -> list[dict]:
    """The chat run-a's policy saw for a row: its system message, then question + suffix."""
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": row["question"] + SUFFIX}]


def responses(row: dict) -> tuple[str, str]:
    """A response the verifier accepts and one it rejects."""
    wrong = {"exact": "Lyon", "math": "3/4"}.get(row["verifier"]) or str(int(row["answer"]) + 1)
    return f"Let me think.\nAnswer: {row['answer']}", f"Let me think.\nAnswer: {wrong}"


def verified(row: dict, response: str) -> float:
    """The score curation gives: verify() on the lake row, as verdicts_table calls it."""
    return verify(row["verifier"], response, row["answer"], json.loads(row["metadata"]), question=row["question"]).score


def test_verl_layout_and_compute_score(lake, tmp_path, capsys):
    data, manifest, printed = export(lake, tmp_path, "rl", "verl", capsys)
    rows = lake_rows(lake)
    assert data.num_rows == len(rows) == 4 and manifest["format"] == "verl"
    assert "custom_reward_function.name=compute_score" in printed and "curation/rewards.py" in printed
    assert manifest["difficulty"]["column"] == "pass_rate"
    for item in data:
        info = item["extra_info"]
        row = rows[info["prompt_id"]]
        assert item["prompt"] == curated_chat(row)
        assert item["data_source"] == f"warmstart/{row['task']}" and item["ability"] == row["task"]
        assert item["reward_model"] == {"style": "rule", "ground_truth": row["answer"]}
        assert item["pass_rate"] == info["pass_rate"] == row["pass_rate"]
        assert (info["verifier"], info["metadata"], info["split"]) == (row["verifier"], row["metadata"], "rl")
        right, wrong = responses(row)
        for response, expected in ((right, 1.0), (wrong, 0.0)):
            # verl's NaiveRewardManager: keyword call, extra_info with num_turns added
            result = compute_score(data_source=item["data_source"], solution_str=response,
                                   ground_truth=item["reward_model"]["ground_truth"],
                                   extra_info={**info, "num_turns": None})
            assert result == {"score": expected, "acc": expected == 1.0}
            assert result["score"] == verified(row, response)
    assert {item["extra_info"]["index"] for item in data} == set(range(4))


def test_openrlhf_layout_and_reward_func(lake, tmp_path, capsys, bundled_model_path):
    from transformers import AutoTokenizer

    data, manifest, printed = export(lake, tmp_path, "rl", "openrlhf", capsys)
    assert manifest["file"] == "rl.jsonl"
    assert "--input_key prompt --apply_chat_template --label_key label --remote_rm_url" in printed
    rows = lake_rows(lake)
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path)
    queries, prompts, labels, expected = [], [], [], []
    for item in data:
        row = rows[item["prompt_id"]]
        assert item["prompt"] == curated_chat(row) and item["pass_rate"] == row["pass_rate"]
        # OpenRLHF's PromptDataset with --apply_chat_template; queries = prompt + decoded response + EOS
        prompt = tokenizer.apply_chat_template(item["prompt"], tokenize=False, add_generation_prompt=True)
        for response in responses(row):
            queries.append(prompt + response + tokenizer.eos_token)
            prompts.append(prompt)
            labels.append(item["label"])
            expected.append(verified(row, response))
    result = reward_func(queries, prompts, labels)
    assert result["rewards"].tolist() == result["scores"].tolist() == expected == [1.0, 0.0] * 4
    assert result["extra_logs"]["acc"].tolist() == expected


def trl_reward_kwargs(data, completions: list) -> dict:
    """What TRL 1.16 GRPOTrainer._calculate_rewards passes: every column but prompt, repeated per
    completion, plus prompts, completions, completion_ids and its own trainer hooks."""
    repeat = len(completions) // data.num_rows
    columns = {key: [value for value in data[key] for _ in range(repeat)] for key in data.column_names if key != "prompt"}
    return {"prompts": [p for p in data["prompt"] for _ in range(repeat)], "completions": completions,
            "completion_ids": [[0]] * len(completions), "trainer_state": None, "log_extra": print,
            "log_metric": print, **columns}


def test_trl_layout_and_reward_function(lake, tmp_path, capsys):
    data, manifest, printed = export(lake, tmp_path, "rl", "trl", capsys)
    assert "GRPOTrainer(reward_funcs=[curation.rewards.correctness_reward])" in printed
    assert data.column_names[:5] == ["prompt", "answer", "verifier", "metadata", "question"]
    rows = lake_rows(lake)
    completions, expected = [], []
    for item in data:
        row = rows[item["prompt_id"]]
        assert item["prompt"] == curated_chat(row) and item["pass_rate"] == row["pass_rate"]
        for response in responses(row):
            completions.append([{"role": "assistant", "content": response}])
            expected.append(verified(row, response))
    assert correctness_reward(**trl_reward_kwargs(data, completions)) == expected == [1.0, 0.0] * 4


def test_each_run_gives_its_own_chat(lake, tmp_path, capsys):
    """rl_default came from a run with the default prompt format: no system message, default suffix."""
    data, _, _ = export(lake, tmp_path, "rl_default", "trl", capsys)
    (row,) = lake_rows(lake, "rl_default").values()
    assert data[0]["prompt"] == [{"role": "user", "content": PromptFormat().user_text(row["question"])}]


def test_trl_preference_and_sft(lake, tmp_path, capsys):
    pairs, _, printed = export(lake, tmp_path, "pairs", "trl", capsys)
    assert "DPOTrainer" in printed
    assert pairs[0]["prompt"] == [{"role": "system", "content": SYSTEM},
                                  {"role": "user", "content": "Capital of France?" + SUFFIX}]
    assert pairs[0]["chosen"] == [{"role": "assistant", "content": "Answer: Paris"}]
    assert pairs[0]["rejected"] == [{"role": "assistant", "content": "Answer: Lyon"}]
    sft, _, _ = export(lake, tmp_path, "sft", "trl", capsys)
    plain, _, _ = export(lake, tmp_path, "sft", "parquet", capsys)
    assert sft.to_list() == plain.to_list() and sft[0]["messages"][0]["role"] == "system"


@pytest.mark.parametrize("argv, error, code, culprit", [
    (["rl", "--format", "nemo"], ConfigError, 2, "unknown export format 'nemo'; choose one of parquet, jsonl, verl"),
    (["sft", "--format", "verl"], SplitError, 5, "split 'sft' is a 'sft' split (its formats: parquet, jsonl, trl)"),
    (["pairs", "--format", "openrlhf"], SplitError, 5, "--format openrlhf exports rl splits"),
    (["orphan", "--format", "verl"], SplitError, 5, "run(s) hand-made with no curate config"),
])
def test_bad_export_is_one_error_and_writes_nothing(lake, tmp_path, capsys, argv, error, code, culprit):
    out = tmp_path / "out"
    before = lake.latest_version()
    full = ["export", *argv, "--to", str(out), "--lake", str(lake.location)]
    assert main(full) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and culprit in err, err
    with pytest.raises(error):
        main(["--debug", *full])
    assert not out.exists() and lake.latest_version() == before


def test_train_refuses_an_engine_export(lake, tmp_path, capsys):
    from trainers.data import load_split

    export(lake, tmp_path, "rl", "trl", capsys)
    with pytest.raises(SplitError, match="exported with --format trl for another engine"):
        load_split("grpo", data=tmp_path / "trl")


@pytest.mark.slow
def test_trl_grpo_trainer_calls_the_reward_on_the_export(lake, tmp_path, capsys, bundled_model_path):
    """One GRPOTrainer step on the TRL export: TRL hands our columns to the reward function."""
    import torch
    import trl
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    data, _, _ = export(lake, tmp_path, "rl", "trl", capsys)
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id))
    calls = []

    def recorded(**kwargs):
        calls.append((kwargs, correctness_reward(**kwargs)))
        return calls[-1][1]

    args = trl.GRPOConfig(output_dir=str(tmp_path / "grpo"), report_to=[], use_cpu=True, save_strategy="no",
                          bf16=False, seed=0, num_generations=2, per_device_train_batch_size=2,
                          max_completion_length=4, max_steps=1)
    trl.GRPOTrainer(model=model, reward_funcs=[recorded], args=args, processing_class=tokenizer,
                    train_dataset=data).train()
    rows = lake_rows(lake)
    kwargs, rewards = calls[0]
    assert {"answer", "verifier", "metadata", "question", "pass_rate"} <= set(kwargs)
    assert kwargs["prompts"][0][0] == {"role": "system", "content": SYSTEM}
    texts = [completion[-1]["content"] for completion in kwargs["completions"]]
    assert rewards == [verified(rows[pid], text) for pid, text in zip(kwargs["prompt_id"], texts, strict=True)]
