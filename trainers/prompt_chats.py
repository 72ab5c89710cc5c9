"""The chat a preference or rl row's prompt was curated with: the curating run's system message,
then the stored user text (prompt + suffix), exactly as curation/prompt_format.conversation built it.

`preference_pairs.prompt` and `rl_prompts.prompt` hold the user text; the system message and
suffix are the curating run's `prompt_format`, recorded in `runs.config`. DPO and GRPO render this
chat, and exports carry it, so training sees the chat the policy was sampled with. Rows that no
curate run wrote (hand-made splits, external files without a `chat` column) have no recorded
format: their prompt is the whole user message.
"""

import json

from pydantic import ValidationError

from curation.prompt_format import PromptFormat, conversation
from schemas.errors import SplitError
from schemas.lake import Lake
from schemas.lake_sql import literal


def prompt_formats(lake: Lake, run_ids: list[str], *, required: bool = True) -> dict[str, PromptFormat | None]:
    """The prompt format each curate run recorded in `runs.config`: the chat its policy saw.

    A run with no curate config is an error when `required`, else maps to None (no format)."""
    wanted = sorted(set(run_ids))
    if not wanted:
        return {}
    found = {row["run_id"]: row["config"] for row in lake.query(
        "SELECT run_id, config FROM runs WHERE kind = 'curate' AND run_id IN "
        f"({', '.join(literal(run_id) for run_id in wanted)})").to_pylist()}
    missing = [run_id for run_id in wanted if not found.get(run_id)]
    if missing and required:
        raise SplitError(f"rows come from run(s) {', '.join(missing)} with no curate config in `runs`, so the "
                         "chat their policy saw is unknown; export them with --format parquet or jsonl")
    return {run_id: _format_of(run_id, found[run_id]) if found.get(run_id) else None for run_id in wanted}


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


def curated_chat(user_text: str, fmt: PromptFormat | None, where: str) -> list[dict]:
    """The chat of a stored user text under its run's format (None: the text is the only message)."""
    if fmt is None:
        return [{"role": "user", "content": user_text}]
    return conversation(question_of(user_text, fmt, where), fmt)


def attach_chats(rows: list[dict], lake: Lake | None, id_column: str) -> None:
    """Set row["chat"] on preference / rl rows: from their curate run's format when they come from
    a lake, else the `chat` a warmstart export carries, else the prompt as the only user message."""
    formats = prompt_formats(lake, [row["run_id"] for row in rows if row.get("run_id")], required=False) \
        if lake is not None else {}
    for row in rows:
        if lake is None and row.get("chat"):
            continue  # an export's recorded chat
        where = f"row {row.get(id_column)}"
        row["chat"] = curated_chat(row["prompt"], formats.get(row.get("run_id")), where)
