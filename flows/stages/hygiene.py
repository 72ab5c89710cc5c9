"""Prompt and response hygiene: quality filters, exact and near dedup, decontamination, trace tags."""

import pyarrow as pa

from curation import dedup, decontam, filters, traces
from flows.stages import StageOutput


def clean_prompts(prompts: pa.Table, cfg, eval_sets: dict[str, list[str]] | None, out: StageOutput) -> pa.Table:
    """Drop bad, duplicate and contaminated prompts; every drop is logged with its reason."""
    if cfg.quality is not None:
        result = filters.filter_prompts(prompts, cfg.quality.prompts)
        prompts = result.kept
        out.dropped("quality", result.drop_log)
    for name, step, step_cfg in [("exact_dedup", dedup.exact_dedup, cfg.dedup.exact),
                                 ("near_dedup", dedup.near_dedup, cfg.dedup.near)]:
        if step_cfg is not None and prompts.num_rows:
            result = step(prompts, step_cfg, text_column="prompt", id_column="prompt_id", table_name="prompts")
            prompts = result.kept
            out.dropped(name, result.drop_log)
            out.add("dedup_clusters", result.clusters)
    if cfg.decontam is not None and eval_sets and prompts.num_rows:
        embedder = _minilm() if cfg.decontam.paraphrase is not None else None
        result = decontam.decontaminate(prompts, eval_sets, cfg.decontam, embedder=embedder)
        prompts = result.kept
        out.dropped("decontam", result.drop_log)
        out.add("decontam_hits", result.hits)
        out.add("decontam_matches", result.matches)
    return prompts


def clean_responses(gens: pa.Table, cfg, out: StageOutput) -> pa.Table:
    """Responses fit to train on: quality, per-prompt exact dedup, trace-tag bounds. Pass rates
    still count every sample; only the SFT and preference builders see this cleaned set."""
    tags = traces.trace_tags(gens, cfg.traces)
    out.add("trace_tags", tags)
    kept = gens
    if cfg.quality is not None:
        result = filters.filter_responses(kept, cfg.quality.responses)
        kept = result.kept
        out.dropped("response_quality", result.drop_log)
    if cfg.dedup.exact is not None and cfg.dedup.responses and kept.num_rows:
        result = dedup.exact_dedup(kept, cfg.dedup.exact, text_column="response", id_column="generation_id",
                                   group_column="prompt_id", table_name="generations")
        kept = result.kept
        out.dropped("response_dedup", result.drop_log)
        out.add("dedup_clusters", result.clusters)
    if cfg.trace_filter is not None and kept.num_rows:
        result = traces.trace_filter(kept, tags, cfg.trace_filter)
        kept = result.kept
        out.dropped("trace_filter", result.drop_log)
    out.counts["responses_kept"] = kept.num_rows
    return kept


def _minilm():
    from curation.embeddings import load_minilm

    return load_minilm()
