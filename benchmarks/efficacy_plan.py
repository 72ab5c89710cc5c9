"""What `make efficacy` trains and compares, declared once: the arms (a chain of training stages
from the base model), the four questions and the paired comparisons that answer them.

An arm's stages are resolved per seed into specs (trainer, data, options, steps); an arm whose
spec equals another's (e.g. the 0% budget point and GRPO from the base model) is trained once, and
a chain's prefix (e.g. the warm-up SFT before GRPO) reuses the checkpoint of the arm it equals.
"""

import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """One training run of a chain: `trainer` on the rows `data` names (see DATA)."""

    trainer: str
    data: str
    long: bool = False  # GRPO with the config's `curve` options; checkpoints evaluated along the way


@dataclass(frozen=True)
class Arm:
    """A trained (or untrained) model that the comparisons use; `share` marks a budget point."""

    name: str
    label: str
    stages: tuple[Stage, ...]
    share: float | None = None

    @property
    def curve(self) -> bool:
        """A long run: its last stage's checkpoints are evaluated too (report arms `<name>@<step>`)."""
        return bool(self.stages) and self.stages[-1].long


# The training rows each stage name means (built by benchmarks/efficacy.py from the curated lake).
DATA = {
    "curated": "the curated warm-up split (`sft`): own verified-correct answers, gold as fallback",
    "gold_rows": "gold answers (`Answer: <gold>`) for random pool prompts, as many rows as `curated`",
    "gold_tokens": "gold answers for random pool prompts, rows added until as many tokens as `curated` "
                   "(loss-bearing tokens by default; config `gold_tokens`)",
    "rl": "the curated `rl` split: prompts with 0 < pass rate < 1, in curriculum order",
    "random_rl": "as many random prompts of the same pool as the `rl` split, no difficulty filter",
    "budget_sft": "the budget point's SFT share: its first rows of the curated split (seeded order)",
}

ARMS = [
    Arm("base", "base model, no training", ()),
    Arm("sft_curated", "SFT on the curated warm-up split", (Stage("sft", "curated"),)),
    Arm("sft_gold_rows", "SFT on gold answers, equal rows", (Stage("sft", "gold_rows"),)),
    Arm("sft_gold_tokens", "SFT on gold answers, equal tokens", (Stage("sft", "gold_tokens"),)),
    Arm("grpo_base", "GRPO from the base model on the rl split", (Stage("grpo", "rl"),)),
    Arm("grpo_warm", "GRPO from the curated warm-up on the rl split",
        (Stage("sft", "curated"), Stage("grpo", "rl"))),
    Arm("grpo_random", "GRPO from the base model on random prompts", (Stage("grpo", "random_rl"),)),
]


# One long GRPO run per start, evaluated every `curve.every` steps: how many steps move the model,
# and whether the warm-up still helps once GRPO has had them.
CURVE_ARMS = [
    Arm("grpo_base_long", "long GRPO from the base model on the rl split", (Stage("grpo", "rl", long=True),)),
    Arm("grpo_warm_long", "long GRPO from the curated warm-up on the rl split",
        (Stage("sft", "curated"), Stage("grpo", "rl", long=True))),
]


def budget_arm(share: float) -> Arm:
    """The budget point spending `share` of the examples on warm-up SFT, the rest on GRPO."""
    stages = (Stage("grpo", "rl"),) if share == 0 else (Stage("sft", "budget_sft"), Stage("grpo", "rl"))
    return Arm(f"budget_{round(100 * share):02d}", f"{100 * share:g}% SFT, {100 - 100 * share:g}% GRPO",
               stages, share)


def arms_for(shares: list[float]) -> list[Arm]:
    """Every arm of a run: the fixed ones, one per budget share, then the long GRPO runs."""
    return ARMS + [budget_arm(share) for share in shares] + CURVE_ARMS


def long_grpo_options(grpo: dict, curve_grpo: dict) -> dict:
    """The long runs' GRPO options: the config's `curve.grpo` over its `grpo`."""
    return {**grpo, **curve_grpo}


def curve_points(max_steps: int, every: int) -> list[int]:
    """The GRPO steps at which a long run is evaluated: every `every` steps, and its last."""
    return [*range(every, max_steps, every), max_steps]


def at_step(arm: str, step: int) -> str:
    """The report's name of a long run's checkpoint after `step` GRPO steps."""
    return f"{arm}@{step}"


@dataclass(frozen=True)
class Comparison:
    """treatment - baseline, paired by seed; `question` groups comparisons in the report."""

    question: str
    treatment: str
    baseline: str
    says: str


QUESTIONS = {
    "gold": "Curation vs gold SFT",
    "warmup": "Warm-up before RL",
    "difficulty": "Difficulty filtering for RL",
    "budget": "Budget: SFT share of a fixed example budget",
    "steps": "GRPO steps that move the model (long runs, checkpoints evaluated)",
}

COMPARISONS = [
    Comparison("gold", "sft_curated", "sft_gold_rows", "what curation adds beyond correct labels (equal rows)"),
    Comparison("gold", "sft_curated", "sft_gold_tokens", "the same at equal tokens"),
    Comparison("gold", "sft_gold_rows", "base", "what gold-answer SFT alone does"),
    Comparison("warmup", "grpo_warm", "grpo_base", "the seed papers' claim: warm-up before RL helps"),
    Comparison("warmup", "grpo_base", "base", "GRPO moves the base model at these steps"),
    Comparison("warmup", "grpo_warm", "sft_curated", "what GRPO adds after the warm-up"),
    Comparison("difficulty", "grpo_base", "grpo_random", "difficulty-filtered vs random RL prompts"),
    Comparison("difficulty", "grpo_random", "base", "GRPO on random prompts vs no training"),
]


def budget_comparisons(shares: list[float]) -> list[Comparison]:
    """Each budget point with SFT against the all-GRPO point (share 0) when the grid has it."""
    if 0 not in shares:
        return []
    zero = budget_arm(0).name
    return [Comparison("budget", budget_arm(s).name, zero, f"{100 * s:g}% of the budget as warm-up SFT")
            for s in shares if s != 0]


def curve_comparisons(points: list[int]) -> list[Comparison]:
    """At each evaluated step: the long base run against no training and against the long warm run;
    at the last, what the long GRPO adds after the warm-up."""
    base, warm = CURVE_ARMS[0].name, CURVE_ARMS[1].name
    out = []
    for step in points:
        out += [Comparison("steps", at_step(base, step), "base", f"GRPO from the base model, {step} steps"),
                Comparison("steps", at_step(warm, step), at_step(base, step), f"warm-up before RL, {step} GRPO steps")]
    if points:
        out.append(Comparison("steps", at_step(warm, points[-1]), "sft_curated",
                              f"what {points[-1]} GRPO steps add after the warm-up"))
    return out


def fingerprint(specs: list[dict]) -> str:
    """A short hash of resolved stage specs (data identity, options, steps, seed)."""
    return hashlib.sha256(json.dumps(specs, sort_keys=True, default=str).encode()).hexdigest()[:16]
