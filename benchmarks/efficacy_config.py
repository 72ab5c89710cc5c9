"""The sizes of `make efficacy` (configs/efficacy.yaml): a default (2-core CPU, under two hours on
quiet cores) and named profiles merged over it (`quick`: a smoke run; `gpu`: the sizes for a
lent accelerator), then dotted `--set` overrides. The trainer sections are trainer options."""

from pathlib import Path
from typing import Literal

from pydantic import Field

from schemas.config import StrictModel, apply_overrides, merge_mappings, read_yaml, validate_model
from schemas.errors import ConfigError


class CurateSizes(StrictModel):
    config: Path = Field(Path("configs/demo.yaml"), description="the curate job whose splits are tested")
    prompts_per_task: int = Field(32, ge=1, description="count of every reasoning-gym source")
    overrides: dict = Field(default_factory=dict, description="dotted-key overrides of that config")


class EvalSizes(StrictModel):
    backend: Literal["vllm", "transformers"] = Field("vllm", description="engine of the held-out eval")
    prompts_per_task: int = Field(50, ge=1, le=50, description="first N of each data/eval/<task>.jsonl")
    temperature: float = Field(0.0, ge=0, description="0 = greedy: one eval of the base model serves every seed")
    max_tokens: int = Field(160, ge=1, description="longest answer")
    backend_options: dict = Field(default_factory=dict, description="vLLM engine options")


class BudgetSizes(StrictModel):
    sft_shares: list[float] = Field([0.0, 0.05, 0.1, 0.25], description="share of the budget spent on SFT")
    total_examples: int | None = Field(None, ge=1, description="SFT rows + GRPO prompt visits; unset: "
                                       "grpo.max_steps x batch_size x grad_accum (share 0 = grpo_base)")


class CurveSizes(StrictModel):
    every: int = Field(16, ge=1, description="evaluate the long GRPO runs' checkpoint every N steps")
    grpo: dict = Field(default_factory=dict, description="GRPO options of the long runs, over `grpo`")


class EfficacyConfig(StrictModel):
    """Sizes of the efficacy experiment; `sft` and `grpo` are trainers/config.py options."""

    profile: str = "cpu"
    model: str = Field("smollm2-135m-instruct", description="base model of every arm (bundled name or path)")
    smoke: bool = Field(False, description="curate on the tests' fake policy, train a tiny random model: "
                                           "checks the path end to end, the numbers mean nothing")
    work_dir: Path = Path("runs/efficacy")
    results_dir: Path = Field(Path("docs/efficacy/cpu"), description="per-seed JSON results (committed)")
    seeds: list[int] = Field([0, 1, 2], min_length=1)
    keep_checkpoints: bool = False
    tasks: list[str] = Field(["chain_sum", "gcd", "letter_counting", "basic_arithmetic"], min_length=1)
    curate: CurateSizes = Field(default_factory=CurateSizes)
    eval: EvalSizes = Field(default_factory=EvalSizes)
    sft: dict = Field(default_factory=dict)
    grpo: dict = Field(default_factory=dict)
    gold_tokens: Literal["label", "all"] = Field(
        "label", description="what the equal-tokens gold baseline matches: loss-bearing (answer) tokens or "
                             "every token the SFT trainer encodes (prompt + answer)")
    budget: BudgetSizes = Field(default_factory=BudgetSizes)
    curve: CurveSizes = Field(default_factory=CurveSizes)
    profiles: dict[str, dict] = Field(default_factory=dict, description="named overrides (--profile)")


def load_efficacy_config(path: Path, profile: str | None = None, overrides: list[str] | None = None
                         ) -> EfficacyConfig:
    """The YAML, with profile `profile` merged in (recursively), then `key.path=value` overrides."""
    raw = read_yaml(path)
    if profile:
        if profile not in raw.get("profiles", {}):
            raise ConfigError(f"{path}: no profile '{profile}' (profiles: {sorted(raw.get('profiles', {}))})")
        raw = merge_mappings(raw, {**raw["profiles"][profile], "profile": profile})
    apply_overrides(raw, overrides or [])
    return validate_model(EfficacyConfig, raw, path)

