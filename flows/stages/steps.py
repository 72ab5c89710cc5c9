"""Declared curation steps: a stage lists its steps once, and one loop runs them.

    PROMPT_STEPS = [Step("quality", "prompts", lambda s: s.cfg.quality and s.cfg.quality.prompts,
                         filters.filter_prompts), ...]
    run_steps(state, PROMPT_STEPS)

A step reads one CurationState table, runs `run(table, settings, **inputs(state))` (a curation
function returning a StepResult) and puts the kept rows back; its drops go to filter_log with
their reasons, its side tables to their lake tables. Adding a filter is one curation module,
one line in a stage's list and one config field.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from curation.step import StepResult
from flows.stages.state import CurationState


def no_inputs(state: CurationState) -> dict:
    """A step that needs nothing but its table and settings."""
    return {}


@dataclass(frozen=True)
class Step:
    """One step of a stage: its name (filter_log step counts), the state table it replaces, its
    settings (from the state; None = off), its function, and keyword inputs drawn from the state."""

    name: str
    table: str
    settings: Callable[[CurationState], Any]
    run: Callable[..., StepResult]
    inputs: Callable[[CurationState], dict] = no_inputs


def run_steps(state: CurationState, steps: list[Step]) -> None:
    """Run every enabled step in order over its table; an empty table skips the step."""
    for step in steps:
        settings = step.settings(state)
        table = getattr(state, step.table)
        if settings is None or table.num_rows == 0:
            continue
        setattr(state, step.table, state.out.record(step.name, step.run(table, settings, **step.inputs(state))))
