"""Prompt and response hygiene: quality filters, exact and near dedup, decontamination, trace tags."""

from curation import dedup, decontam, filters, traces
from flows.stages.state import CurationState
from flows.stages.steps import Step, run_steps

RESPONSES = {"text_column": "response", "id_column": "generation_id", "table_name": "generations"}

PROMPT_STEPS = [
    Step("quality", "prompts", lambda s: s.cfg.quality and s.cfg.quality.prompts, filters.filter_prompts),
    Step("exact_dedup", "prompts", lambda s: s.cfg.dedup.exact, dedup.exact_dedup),
    Step("near_dedup", "prompts", lambda s: s.cfg.dedup.near, dedup.near_dedup),
    Step("decontam", "prompts", lambda s: s.cfg.decontam if s.eval_sets else None, decontam.decontaminate,
         inputs=lambda s: {"eval_sets": s.eval_sets,
                           "embedder": s.minilm() if s.cfg.decontam.paraphrase is not None else None}),
]
# Pass rates still count every sample; only the SFT and preference builders see the cleaned set.
RESPONSE_STEPS = [
    Step("response_quality", "clean_generations", lambda s: s.cfg.quality and s.cfg.quality.responses,
         filters.filter_responses),
    Step("response_dedup", "clean_generations", lambda s: s.cfg.dedup.exact if s.cfg.dedup.responses else None,
         dedup.exact_dedup, inputs=lambda s: {**RESPONSES, "group_column": "prompt_id"}),
    Step("trace_filter", "clean_generations", lambda s: s.cfg.trace_filter, traces.trace_filter,
         inputs=lambda s: {"tags": s.trace_tags}),
]


def clean_prompts(state: CurationState) -> None:
    """Drop bad, duplicate and contaminated prompts; every drop is logged with its reason."""
    run_steps(state, PROMPT_STEPS)


def clean_responses(state: CurationState) -> None:
    """Tag every response's trace, then keep the responses fit to train on in clean_generations."""
    state.trace_tags = traces.trace_tags(state.generations, state.cfg.traces)
    state.out.add("trace_tags", state.trace_tags)
    state.clean_generations = state.generations
    run_steps(state, RESPONSE_STEPS)
    state.out.counts["responses_kept"] = state.clean_generations.num_rows
