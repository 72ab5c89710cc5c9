"""The `warmstart loop` config: how each round curates, trains, evaluates and mines."""

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from flows.config import Source, resolve_source_paths
from schemas.config import StrictModel, read_yaml, validate_model
from trainers.registry import TRAINERS


def known_trainer(name: str) -> str:
    """A registered trainer's name (trainers/registry.py)."""
    if name not in TRAINERS:
        raise ValueError(f"unknown trainer '{name}'; trainers: {', '.join(TRAINERS)}")
    return name


Trainer = Annotated[str, AfterValidator(known_trainer)]


class LoopCurate(StrictModel):
    """Each round runs this curate config with the current policy as its model."""

    config: Path = Field(description="curate YAML (its lake and model are the loop's)")
    overrides: dict[str, Any] = Field(default_factory=dict, description="dotted keys, as `warmstart run --set`")
    fresh_per_source: int | None = Field(
        None, ge=0, description="new prompts per reasoning-gym source each round (its seed moves on "
        "every round); unset: the source's own count")


class LoopTrain(StrictModel):
    """Which trainers run in a round, each starting from the previous checkpoint."""

    first: list[Trainer] = Field(["sft"], min_length=1, description="round 0: the warm-up")
    later: list[Trainer] = Field(["dpo"], min_length=1, description="rounds 1, 2, ...")
    configs: dict[Trainer, Path] = Field(default_factory=dict, description="trainer YAML per trainer")
    options: dict[Trainer, dict[str, Any]] = Field(
        default_factory=dict, description="trainer options per trainer, over its YAML (trainers/config.py)")


class LoopEval(StrictModel):
    """Held-out prompts (split_guard eval: curation never trains on them) scored after each round."""

    sources: list[Source] = Field(min_length=1)
    temperature: float = Field(0.0, ge=0, description="0: greedy, so a score is the checkpoint's own")
    max_tokens: int = Field(256, ge=1)
    seed: int = 0


class LoopMine(StrictModel):
    """Which prompts of round r go on to round r+1 as deficiency data."""

    below_pass_rate: float = Field(1.0, gt=0, le=1, description="carry prompts the policy passed less often")
    max_prompts: int | None = Field(None, ge=1, description="carry at most this many (hardest first)")


class LoopConfig(StrictModel):
    """Everything `warmstart loop` needs; see configs/loop.yaml."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                      description="the loop's id: re-running the same name continues at its next unfinished round")
    lake: str = "data/lake"
    work_dir: Path = Field(Path("runs/loop"), description="checkpoints of every round (git-ignored)")
    model: str | None = Field(None, description="round 0's policy; default: the curate config's model")
    rounds: int = Field(ge=1, le=1000)
    curate: LoopCurate
    train: LoopTrain = Field(default_factory=LoopTrain)
    eval: LoopEval
    mine: LoopMine = Field(default_factory=LoopMine)


def load_loop_config(path: str | Path, overrides: list[str] | None = None) -> LoopConfig:
    """Read and validate a loop YAML; relative paths resolve against the working directory first,
    then the config's folder."""
    cfg = validate_model(LoopConfig, read_yaml(path, overrides), path)
    folder = Path(path).parent
    resolve_source_paths(cfg.eval.sources, folder)
    if not cfg.curate.config.exists() and (folder / cfg.curate.config).exists():
        cfg.curate.config = folder / cfg.curate.config
    for source in cfg.eval.sources:
        if source.split_guard != "eval":
            source.split_guard = "eval"  # held-out by construction
    return cfg
