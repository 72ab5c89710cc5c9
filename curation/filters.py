"""Quality filters on prompts and responses: keep/drop with a reason per dropped row.

Each check is one named step (`quality.length`, `quality.truncated`, ...). A row that fails
several checks gets one drop-log row per failed check, so SQL on filter_log answers both "why
did this row vanish" and "how many rows did each check remove":

    SELECT step, count(*) FROM filter_log WHERE table_name = 'generations' GROUP BY step

Example: ``result = filter_responses(generations, ResponseQualityConfig())`` (a StepResult).
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from curation import text_stats
from curation.step import StepResult, keep_rows, require_columns
from schemas.config import StrictModel

# The answer formats curation/extract.py reads (tags, \boxed{}, "Answer: X"), in RE2 syntax; its
# last-number fallback is not a format, so a response relying on it counts as missing one.
DEFAULT_ANSWER_PATTERNS = [r"(?is)<answer>.*?</answer>", r"\\(?:boxed|fbox)\s*\{",
                           r"(?i)\banswer\b(?:\*\*|__)?\s*(?::|\bis\b)"]


class PromptQualityConfig(StrictModel):
    """Checks on prompt text. Token counts are tokenizer-free (words and symbols, see text_stats)."""

    min_tokens: int = Field(1, ge=0, description="drop texts with fewer tokens")
    max_tokens: int | None = Field(2048, ge=1, description="drop texts with more tokens; null = no limit")
    repetition_ngram: int = Field(4, ge=1, le=32, description="n of the n-grams the repetition check counts")
    max_repetition: float = Field(0.5, ge=0.0, le=1.0,
                                  description="drop texts whose share of repeated n-grams exceeds this")
    max_garbled: float = Field(
        0.01, ge=0.0, le=1.0,
        description="drop texts whose share of control/U+FFFD/private-use characters exceeds this")
    allowed_scripts: list[str] = Field(default_factory=lambda: ["Latin", "Greek"],
                                       description="Unicode scripts (RE2 names) a text's letters may use")
    max_other_script: float = Field(
        0.2, ge=0.0, le=1.0,
        description="drop texts whose share of letters outside allowed_scripts exceeds this")

    @field_validator("allowed_scripts")
    @classmethod
    def _known_scripts(cls, scripts: list[str]) -> list[str]:
        for name in scripts:
            try:
                text_stats.check_pattern(text_stats.script_pattern([name]))
            except ValueError:
                raise ValueError(f"unknown Unicode script '{name}' (e.g. Latin, Greek, Cyrillic, Han)")
        return scripts


class ResponseQualityConfig(PromptQualityConfig):
    """Prompt checks plus the response-only ones: truncation and a missing answer format."""

    max_tokens: int | None = Field(None, ge=1, description="drop responses with more tokens; null = no limit")
    max_repetition: float = Field(0.6, ge=0.0, le=1.0,
                                  description="drop responses whose share of repeated n-grams exceeds this")
    drop_truncated: bool = Field(True, description="drop responses with finish_reason = 'length'")
    require_answer_format: bool = Field(True, description="drop responses matching none of answer_patterns")
    answer_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_ANSWER_PATTERNS),
                                       description="RE2 regexes; a response must match one of them")

    @field_validator("answer_patterns")
    @classmethod
    def _valid_patterns(cls, patterns: list[str]) -> list[str]:
        return [text_stats.check_pattern(p) for p in patterns]


class QualityConfig(StrictModel):
    """The `quality:` section of a curate config: one block for prompts, one for responses."""

    prompts: PromptQualityConfig = Field(default_factory=PromptQualityConfig)
    responses: ResponseQualityConfig = Field(default_factory=ResponseQualityConfig)


def filter_prompts(prompts: pa.Table, cfg: PromptQualityConfig, *, text_column: str = "prompt",
                   id_column: str = "prompt_id", table_name: str = "prompts") -> StepResult:
    """Drop prompts failing the text checks; log every failed check."""
    require_columns(prompts, [text_column, id_column], table_name)
    texts = prompts.column(text_column)
    checks = text_checks(texts, cfg, token_counts=text_stats.approx_token_counts(texts))
    return keep_rows(prompts, _named(checks), id_column=id_column, table_name=table_name)


def filter_responses(generations: pa.Table, cfg: ResponseQualityConfig, *,
                     text_column: str = "response", id_column: str = "generation_id",
                     table_name: str = "generations") -> StepResult:
    """Drop responses failing the text checks, truncated ones and ones without an answer format."""
    require_columns(generations, [text_column, id_column], table_name)
    texts = text_stats.as_arrow(generations.column(text_column))
    checks = text_checks(texts, cfg, token_counts=_token_counts(generations, texts))
    if cfg.drop_truncated and "finish_reason" in generations.column_names:
        reasons = generations.column("finish_reason").to_numpy(zero_copy_only=False)
        checks["truncated"] = [("finish_reason = 'length' (hit max_tokens)" if r == "length" else None)
                               for r in reasons]
    if cfg.require_answer_format and cfg.answer_patterns:
        found = np.zeros(len(texts), bool)
        for pattern in cfg.answer_patterns:
            found |= pc.match_substring_regex(texts, pattern).to_numpy(zero_copy_only=False)
        checks["answer_format"] = [None if ok else "no answer marker (<answer>, \\boxed{}, 'Answer:')"
                                   for ok in found]
    return keep_rows(generations, _named(checks), id_column=id_column, table_name=table_name)


def text_checks(texts, cfg: PromptQualityConfig, *, token_counts: np.ndarray) -> dict[str, list]:
    """Per check name, a reason per row (None = passes) for the checks prompts and responses share."""
    checks = {"length": [_length_reason(n, cfg.min_tokens, cfg.max_tokens) for n in token_counts]}
    repetition = text_stats.repetition_ratios(texts, cfg.repetition_ngram)
    checks["repetition"] = _above(repetition, cfg.max_repetition,
                                  f"repeated {cfg.repetition_ngram}-gram share")
    checks["garbled"] = _above(text_stats.garbled_ratios(texts), cfg.max_garbled,
                               "control/replacement character share")
    other = text_stats.other_script_ratios(texts, cfg.allowed_scripts)
    checks["charset"] = _above(other, cfg.max_other_script,
                               f"share of letters outside {'/'.join(cfg.allowed_scripts)}")
    return checks


def _named(checks: dict[str, list]) -> dict[str, list]:
    """Each check is its own step in filter_log: quality.length, quality.truncated, ..."""
    return {f"quality.{name}": reasons for name, reasons in checks.items()}


def _token_counts(generations: pa.Table, texts) -> np.ndarray:
    """The generator's own n_tokens where recorded, the tokenizer-free count elsewhere."""
    approx = text_stats.approx_token_counts(texts)
    if "n_tokens" not in generations.column_names:
        return approx
    recorded = pc.fill_null(generations.column("n_tokens").cast(pa.int64()), -1)
    recorded = recorded.to_numpy()
    return np.where(recorded < 0, approx, recorded).astype(np.int64)


def _length_reason(n: int, low: int, high: int | None) -> str | None:
    if n < low:
        return f"{n} tokens < min_tokens {low}"
    if high is not None and n > high:
        return f"{n} tokens > max_tokens {high}"
    return None


def _above(values: np.ndarray, limit: float, what: str) -> list:
    return [f"{what} {v:.2f} > {limit}" if v > limit else None for v in values]
