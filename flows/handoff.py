"""Hand-off to the big RL engines: a split as verl, OpenRLHF or TRL read their datasets.

Every prompt becomes the chat its policy saw during curation (the curating run's
`prompt_format`: system message, then prompt + suffix, curation.generate.conversation), and
carries what curation/rewards.py needs to call the same verifier curation used.

Layouts, from each project's docs (read, not copied):
- verl 0.4-0.5 (docs/preparation/prepare_data.rst, examples/data_preprocess/gsm8k.py): Parquet
  with `data_source`, `prompt` (chat messages), `ability`, `reward_model` {style, ground_truth},
  `extra_info` (passed to the reward function).
- OpenRLHF 0.8 (README: Prepare Datasets, Reinforced Fine-tuning): JSONL read with
  `--input_key prompt --apply_chat_template`; `--label_key label` hands each row's label to
  `reward_func(queries, prompts, labels)`.
- TRL 1.16 (dataset formats; GRPOTrainer): conversational `prompt`; GRPOTrainer passes every
  other column to the reward functions; preference rows as conversational prompt/chosen/rejected.
"""

import json
from typing import NamedTuple

import pyarrow as pa
from pydantic import ValidationError

from curation.generate import PromptFormat, conversation
from curation.rewards import parse_metadata
from schemas.errors import SplitError
from schemas.lake import Lake
from schemas.lake_sql import literal
from schemas.split_registry import Split
from schemas.tables import MESSAGE

STR, FLOAT, INT = pa.string(), pa.float64(), pa.int64()
DIFFICULTY_COLUMN = "pass_rate"  # fraction of the policy's samples verified correct: lower is harder
CHAT = pa.list_(MESSAGE)
# What the reward functions read, in the order the TRL layout lists them after `prompt`.
REWARD_FIELDS = [("answer", STR), ("verifier", STR), ("metadata", STR), ("question", STR)]
ROW_FIELDS = [("prompt_id", STR), ("task", STR), (DIFFICULTY_COLUMN, FLOAT), ("curriculum_stage", INT)]
VERL_EXTRA = pa.struct([("index", INT), ("split", STR), ("prompt_id", STR), ("task", STR), ("verifier", STR),
                        ("metadata", STR), ("question", STR), (DIFFICULTY_COLUMN, FLOAT), ("curriculum_stage", INT)])
PAIR_COLUMNS = ["pair_id", "prompt_id", "chosen_score", "rejected_score", "pair_kind"]


class Difficulty(NamedTuple):
    """The DIFFICULTY_COLUMN value of each row of an rl split, and where it comes from."""

    values: list[float | None]
    source: str


def difficulty(lake: Lake, split: Split) -> Difficulty:
    """The one place the exported difficulty comes from: the difficulty ledger's pass rate, pooled
    over every run that sampled the prompt with the policy that curated the row (the ledger row
    whose run_ids hold the row's run), else the curating run's own rl_prompts.pass_rate."""
    rows = split.rows.select(["prompt_id", "run_id", "pass_rate"]).to_pylist()
    runs = sorted({row["run_id"] for row in rows})
    ledger = lake.read("difficulty", where=f"list_has_any(run_ids, [{', '.join(map(literal, runs))}])") \
        if runs else None
    pooled = {(entry["prompt_id"], run): entry["pass_rate"] for entry in
              (ledger.select(["prompt_id", "run_ids", "pass_rate"]).to_pylist() if ledger is not None else [])
              for run in entry["run_ids"]}
    keys = [(row["prompt_id"], row["run_id"]) for row in rows]
    n_pooled = sum(key in pooled for key in keys)
    parts = [f"difficulty.pass_rate (pooled over every run of the curating policy) for {n_pooled} rows"] \
        if n_pooled else []
    if n_pooled < len(rows):
        parts.append(f"rl_prompts.pass_rate (the curating run's own samples) for {len(rows) - n_pooled} rows")
    return Difficulty([pooled.get(key, row["pass_rate"]) for key, row in zip(keys, rows)], "; ".join(parts))


def verl_table(lake: Lake, split: Split) -> pa.Table:
    """verl: chat prompt, reward_model.ground_truth, and the verifier's inputs in extra_info."""
    rows = [{"data_source": f"warmstart/{r['task']}", "prompt": r["chat"], "ability": r["task"],
             "reward_model": {"style": "rule", "ground_truth": r["answer"]},
             "extra_info": {**{k: r[k] for k in VERL_EXTRA.names if k != "split"}, "split": split.name},
             DIFFICULTY_COLUMN: r[DIFFICULTY_COLUMN]} for r in rl_records(lake, split)]
    schema = pa.schema([("data_source", STR), ("prompt", CHAT), ("ability", STR),
                        ("reward_model", pa.struct([("style", STR), ("ground_truth", STR)])),
                        ("extra_info", VERL_EXTRA), (DIFFICULTY_COLUMN, FLOAT)])
    return pa.Table.from_pylist(rows, schema=schema)


def openrlhf_table(lake: Lake, split: Split) -> pa.Table:
    """OpenRLHF: chat `prompt` and a JSON `label` with the verifier's inputs (one string, as labels
    also travel over HTTP to a remote reward server)."""
    rows = [{"prompt": r["chat"], "label": json.dumps({**{name: r[name] for name, _ in REWARD_FIELDS},
                                                      "metadata": parse_metadata(r["metadata"])}, ensure_ascii=False),
             **{name: r[name] for name, _ in ROW_FIELDS}} for r in rl_records(lake, split)]
    return pa.Table.from_pylist(rows, schema=pa.schema([("prompt", CHAT), ("label", STR), *ROW_FIELDS]))


def trl_rl_table(lake: Lake, split: Split) -> pa.Table:
    """TRL GRPO: conversational `prompt`; the other columns reach the reward function as kwargs."""
    fields = [("prompt", CHAT), *REWARD_FIELDS, *ROW_FIELDS]
    rows = [{"prompt": r["chat"], **{name: r[name] for name, _ in fields[1:]}} for r in rl_records(lake, split)]
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


def trl_preference_table(lake: Lake, split: Split) -> pa.Table:
    """TRL DPO, conversational: the curated chat as `prompt`, each answer as an assistant turn."""
    rows = split.rows.to_pylist()
    formats = prompt_formats(lake, [row["run_id"] for row in rows])
    out = []
    for row in rows:
        fmt = formats[row["run_id"]]
        out.append({"prompt": conversation(question_of(row["prompt"], fmt, f"pair {row['pair_id']}"), fmt),
                    "chosen": [{"role": "assistant", "content": row["chosen"]}],
                    "rejected": [{"role": "assistant", "content": row["rejected"]}],
                    **{name: row[name] for name in PAIR_COLUMNS}})
    schema = pa.schema([("prompt", CHAT), ("chosen", CHAT), ("rejected", CHAT),
                        *[split.rows.schema.field(name) for name in PAIR_COLUMNS]])
    return pa.Table.from_pylist(out, schema=schema)


def rl_records(lake: Lake, split: Split) -> list[dict]:
    """Each rl row with its curated chat, raw question, verifier inputs and difficulty."""
    rows = split.rows.to_pylist()
    formats = prompt_formats(lake, [row["run_id"] for row in rows])
    rates = difficulty(lake, split).values
    records = []
    for index, (row, rate) in enumerate(zip(rows, rates, strict=True)):
        fmt = formats[row["run_id"]]
        question = question_of(row["prompt"], fmt, f"prompt {row['prompt_id']}")
        records.append({"index": index, "prompt_id": row["prompt_id"], "task": row["task"],
                        "chat": conversation(question, fmt), "question": question, "answer": row["answer"],
                        "verifier": row["verifier"], "metadata": row["metadata"] or "{}", DIFFICULTY_COLUMN: rate,
                        "curriculum_stage": row["curriculum_stage"]})
    return records


def prompt_formats(lake: Lake, run_ids: list[str]) -> dict[str, PromptFormat]:
    """The prompt format each curate run recorded in `runs.config`: the chat its policy saw."""
    wanted = sorted(set(run_ids))
    found = {row["run_id"]: row["config"] for row in lake.query(
        "SELECT run_id, config FROM runs WHERE kind = 'curate' AND run_id IN "
        f"({', '.join(literal(run_id) for run_id in wanted)})").to_pylist()}
    missing = [run_id for run_id in wanted if not found.get(run_id)]
    if missing:
        raise SplitError(f"rows come from run(s) {', '.join(missing)} with no curate config in `runs`, so the "
                         "chat their policy saw is unknown; export them with --format parquet or jsonl")
    return {run_id: _format_of(run_id, found[run_id]) for run_id in wanted}


def _format_of(run_id: str, config: str) -> PromptFormat:
    try:
        return PromptFormat.model_validate(json.loads(config).get("prompt_format") or {})
    except (json.JSONDecodeError, AttributeError, ValidationError) as exc:
        raise SplitError(f"run {run_id}: recorded config has no valid prompt_format ({exc})") from None


def question_of(user_text: str, fmt: PromptFormat, where: str) -> str:
    """The raw question inside a stored user text (prompt + the run's suffix)."""
    if not user_text.endswith(fmt.suffix):
        raise SplitError(f"{where}: text does not end with its run's prompt suffix {fmt.suffix!r}; "
                         "the lake's rows and `runs.config` disagree")
    return user_text[:len(user_text) - len(fmt.suffix)]
