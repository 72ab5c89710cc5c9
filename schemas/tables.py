"""Arrow schemas of every lake table and their key columns: the one source of truth."""

from dataclasses import dataclass

import pyarrow as pa

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])


@dataclass(frozen=True)
class TableSpec:
    """A lake table: its Arrow schema, the columns that identify a row (upsert key), and the
    columns a commit may leave out (stored NULL: columns added after rows were first written)."""

    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    optional: tuple[str, ...] = ()


def _spec(name, key, *fields, optional=()) -> TableSpec:
    return TableSpec(name, pa.schema(list(fields)), tuple(key), tuple(optional))


S, F, I, B, TS = pa.string(), pa.float64(), pa.int64(), pa.bool_(), pa.timestamp("us", tz="UTC")

TABLES: dict[str, TableSpec] = {t.name: t for t in [
    _spec("prompts", ["prompt_id"],
          ("prompt_id", S), ("source", S), ("task", S), ("prompt", S), ("answer", S),
          ("verifier", S), ("metadata", S), ("split_guard", S), ("run_id", S)),
    _spec("generations", ["generation_id"],
          ("generation_id", S), ("prompt_id", S), ("model", S), ("sampling", S),
          ("sample_index", I), ("response", S), ("n_tokens", I), ("finish_reason", S),
          # sample identity (curation/sample_identity.py); NULL on rows written without it
          ("model_fingerprint", S), ("chat_template", S), ("prompt_format", S), ("seed", I),
          ("run_id", S), optional=("model_fingerprint", "chat_template", "prompt_format", "seed")),
    _spec("verdicts", ["generation_id", "verifier"],
          ("generation_id", S), ("prompt_id", S), ("verifier", S), ("extracted", S),
          ("correct", B), ("score", F), ("detail", S), ("run_id", S)),
    _spec("prompt_stats", ["prompt_id", "model"],
          ("prompt_id", S), ("model", S), ("k", I), ("n_correct", I), ("pass_rate", F),
          ("ci_low", F), ("ci_high", F), ("difficulty_bucket", S), ("mean_tokens", F),
          ("run_id", S)),
    _spec("skills", ["skill_id"],
          ("skill_id", S), ("name", S), ("description", S), ("origin", S), ("run_id", S)),
    _spec("prompt_skills", ["prompt_id", "skill_id"],
          ("prompt_id", S), ("skill_id", S), ("confidence", F), ("origin", S), ("run_id", S)),
    # The model's skill-extraction replies per prompt: the cache (and record) of what it named.
    _spec("skill_extractions", ["prompt_id", "model", "settings_id"],
          ("prompt_id", S), ("model", S), ("settings_id", S), ("replies", pa.list_(S)), ("run_id", S)),
    _spec("sft_examples", ["example_id"],
          ("example_id", S), ("prompt_id", S), ("messages", pa.list_(MESSAGE)), ("origin", S),
          ("run_id", S)),
    _spec("preference_pairs", ["pair_id"],
          ("pair_id", S), ("prompt_id", S), ("prompt", S), ("chosen", S), ("rejected", S),
          ("chosen_score", F), ("rejected_score", F), ("pair_kind", S), ("run_id", S)),
    _spec("rl_prompts", ["prompt_id"],
          ("prompt_id", S), ("task", S), ("prompt", S), ("answer", S), ("verifier", S),
          ("metadata", S), ("pass_rate", F), ("curriculum_stage", I), ("run_id", S)),
    _spec("splits", ["split_name", "version"],
          ("split_name", S), ("version", I), ("kind", S), ("table_name", S),
          ("row_ids", pa.list_(S)), ("n_rows", I), ("filter", S), ("run_id", S),
          ("created_at", TS)),
    _spec("runs", ["run_id"],
          ("run_id", S), ("kind", S), ("config", S), ("started", TS), ("finished", TS),
          ("status", S), ("parent_run_id", S), ("detail", S)),
    _spec("train_metrics", ["run_id", "step", "metric"],
          ("run_id", S), ("step", I), ("metric", S), ("value", F)),
    _spec("filter_log", ["record_id", "table_name", "step"],
          ("record_id", S), ("table_name", S), ("step", S), ("reason", S), ("run_id", S)),
    # Curation depth: what hygiene, skills and curriculum steps record next to the main tables.
    _spec("dedup_clusters", ["record_id", "table_name", "step"],
          ("record_id", S), ("table_name", S), ("step", S), ("cluster_id", S), ("similarity", F),
          ("run_id", S)),
    _spec("trace_tags", ["generation_id"],
          ("generation_id", S), ("n_chars", I), ("n_tokens", I), ("backtracks", I), ("self_checks", I),
          ("restarts", I), ("run_id", S)),
    _spec("decontam_hits", ["run_id", "benchmark"],
          ("benchmark", S), ("n_eval_items", I), ("n_template_ngrams", I), ("n_prompts_checked", I),
          ("n_prompts_hit", I), ("n_exact", I), ("n_eval_items_hit", I), ("dropped", B), ("run_id", S)),
    _spec("decontam_matches", ["record_id", "benchmark", "eval_index"],
          ("record_id", S), ("benchmark", S), ("eval_index", I), ("kind", S), ("coverage", F), ("run_id", S)),
    _spec("curriculum_schedule", ["stage", "prompt_id"],
          ("stage", I), ("prompt_id", S), ("home_stage", I), ("retrospective", B), ("pass_rate", F),
          ("run_id", S)),
    _spec("step_values", ["generation_id", "prefix_steps"],
          ("prompt_id", S), ("generation_id", S), ("prefix_steps", I), ("n_steps", I), ("prefix_chars", I),
          ("prefix_hash", S), ("n_rollouts", I), ("n_correct", I), ("value", F), ("divergence", B), ("run_id", S)),
    # Per skill, one policy's profile: keyed by its fingerprint (model is the name it reports), so two
    # models in folders of one name keep their own. Rows written before `policy` existed hold NULL.
    _spec("skill_profile", ["skill_id", "policy"],
          ("skill_id", S), ("name", S), ("model", S), ("n_prompts", I), ("n_samples", I), ("n_failures", I),
          ("pass_rate", F), ("ci_low", F), ("ci_high", F), ("deficit", F), ("missing", B), ("policy", S),
          ("run_id", S)),
    # The difficulty ledger: each sample of a policy counted once (by generation id), and per
    # (prompt, policy fingerprint) the successes and attempts pooled over every run that sampled it.
    _spec("difficulty_samples", ["policy", "generation_id"],
          ("policy", S), ("generation_id", S), ("prompt_id", S), ("correct", B), ("run_id", S)),
    _spec("difficulty", ["prompt_id", "policy"],
          ("prompt_id", S), ("policy", S), ("model", S), ("attempts", I), ("successes", I), ("pass_rate", F),
          ("ci_low", F), ("ci_high", F), ("run_ids", pa.list_(S)), ("updated_at", TS), ("run_id", S)),
    _spec("skill_mix", ["run_id", "table_name", "skill_id"],
          ("table_name", S), ("skill_id", S), ("name", S), ("missing", B), ("n_before", I), ("n_after", I),
          ("share_before", F), ("share_after", F), ("run_id", S)),
    # The closed loop: one row per round (what it curated, trained and scored) and its eval scores.
    _spec("loop_rounds", ["loop_id", "round"],
          ("loop_id", S), ("round", I), ("status", S), ("policy_in", S), ("curate_run_id", S),
          ("n_prompts", I), ("n_mined", I), ("splits", S), ("train_run_ids", S), ("checkpoint", S),
          ("eval_pass_rate", F), ("eval_pass_rate_in", F), ("started", TS), ("finished", TS),
          ("run_id", S)),
    _spec("loop_evals", ["loop_id", "round", "model", "task"],
          ("loop_id", S), ("round", I), ("model", S), ("task", S), ("n", I), ("n_correct", I),
          ("pass_rate", F), ("run_id", S)),
]}

# The column that holds a row's id, for tables a split can point into.
ROW_ID = {"sft_examples": "example_id", "preference_pairs": "pair_id", "rl_prompts": "prompt_id",
          "prompts": "prompt_id"}
# Which split kinds read which table; trainers check this before training.
SPLIT_KINDS = {"sft": "sft_examples", "preference": "preference_pairs", "rl": "rl_prompts"}


def spec(name: str) -> TableSpec:
    """The spec of a lake table, or a clear error naming the known tables."""
    from schemas.errors import LakeError

    if name not in TABLES:
        raise LakeError(f"unknown table '{name}'; known tables: {', '.join(sorted(TABLES))}")
    return TABLES[name]


def step_schema(name: str) -> pa.Schema:
    """A table's schema without run_id: what a curation step returns before the lake stamps it."""
    return pa.schema([f for f in TABLES[name].schema if f.name != "run_id"])
