"""DPO and GRPO train on the chat curation sampled from: the curating run's system message, then
the stored user text. Before this, both rendered the prompt as the only user message."""

import json

from tiny_models import add_split, preference_rows, rl_rows

from trainers.collate import encode_prompt, template_ids
from trainers.config import load_config
from trainers.data import load_split
from trainers.dpo import DPORecipe
from trainers.grpo import GRPORecipe

SYSTEM, SUFFIX = "You are a terse calculator.", " Answer with one word."


def curate_run(lake, run_id: str, prompt_format: dict) -> None:
    """A `runs` row as a curate run records it: its config holds the prompt format."""
    lake.commit({"runs": [{"run_id": run_id, "kind": "curate", "status": "completed", "started": None,
                           "finished": None, "parent_run_id": None, "detail": "",
                           "config": json.dumps({"prompt_format": prompt_format})}]})


def curated(rows: list[dict]) -> list[dict]:
    """Rows as a run with SUFFIX wrote them: `prompt` is the user text (prompt + suffix)."""
    return [{**row, "prompt": row["prompt"] + SUFFIX} for row in rows]


def first_row_first(rows: list[dict]) -> list[dict]:
    """Rows by their prompt: a split's rows come back in no guaranteed order."""
    return sorted(rows, key=lambda row: row["prompt"])


def test_dpo_and_grpo_render_the_system_message_of_the_curating_run(lake, tokenizer):
    curate_run(lake, "run-sys", {"system": SYSTEM, "suffix": SUFFIX})
    add_split(lake, "pairs", "preference", curated(preference_rows(3)), run_id="run-sys")
    add_split(lake, "rl", "rl", curated(rl_rows(3)), run_id="run-sys")

    pairs = first_row_first(load_split("dpo", lake=lake, split="pairs").rows)
    assert pairs[0]["chat"] == [{"role": "system", "content": SYSTEM},
                                {"role": "user", "content": "Name the number 0." + SUFFIX}]
    dpo = DPORecipe(pairs, tokenizer, load_config("dpo", None, {"split": "pairs"}))
    expected = template_ids(tokenizer, pairs[0]["chat"], add_generation_prompt=True)
    assert dpo.pairs[0]["prompt_ids"] == expected
    assert SYSTEM in tokenizer.decode(dpo.pairs[0]["prompt_ids"])

    rl = load_split("grpo", lake=lake, split="rl").rows
    grpo = GRPORecipe(rl, tokenizer, load_config("grpo", None, {"split": "rl", "num_generations": 2}))
    assert grpo.prompts[0] == encode_prompt(tokenizer, rl[0]["chat"])
    assert tokenizer.decode(grpo.prompts[0]).count(SYSTEM) == 1


def test_without_a_system_message_the_chat_is_the_user_text(lake, tokenizer):
    curate_run(lake, "run-plain", {"suffix": SUFFIX})
    add_split(lake, "pairs", "preference", curated(preference_rows(2)), run_id="run-plain")
    row = first_row_first(load_split("dpo", lake=lake, split="pairs").rows)[0]
    assert row["chat"] == [{"role": "user", "content": "Name the number 0." + SUFFIX}]
    # rows no curate run wrote (hand-made splits) have no recorded format: the prompt is the message
    add_split(lake, "hand", "preference", preference_rows(2), run_id="by-hand")
    assert first_row_first(load_split("dpo", lake=lake, split="hand").rows)[0]["chat"] == [
        {"role": "user", "content": "Name the number 0."}]


def test_a_plain_export_carries_the_chat_to_train_from(lake, tmp_path):
    from flows.export import export_split

    curate_run(lake, "run-sys", {"system": SYSTEM, "suffix": SUFFIX})
    add_split(lake, "rl", "rl", curated(rl_rows(2)), run_id="run-sys")
    for fmt in ("parquet", "jsonl"):
        exported = export_split(lake, "rl", tmp_path / fmt, fmt=fmt)
        rows = load_split("grpo", data=exported.path).rows
        assert rows[0]["chat"][0] == {"role": "system", "content": SYSTEM}, fmt
