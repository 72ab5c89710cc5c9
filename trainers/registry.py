"""The trainer registry: one entry per trainer. Every list of trainers derives from it: the
recipe `trainers.run` builds, the split kind `trainers.data` reads, the closed loop's trainer
names and split kinds, and the `warmstart train` / `schedule --train` choices.

Adding a trainer is one recipe module (a TrainConfig subclass and a `trainers.recipe.Recipe`
subclass), one `register(...)` line below and one configs/train_<name>.yaml.
"""

import importlib
from dataclasses import dataclass

from schemas.errors import ConfigError
from schemas.tables import SPLIT_KINDS


@dataclass(frozen=True)
class TrainerSpec:
    """One trainer. `config` and `recipe` are "module:Class" references, imported only when a
    run needs them, so the CLI starts without loading torch."""

    name: str
    split_kind: str  # the kind of split it trains on (schemas.tables.SPLIT_KINDS)
    help: str  # one line for `warmstart train --help`
    config: str  # "module:Class" of its TrainConfig subclass
    recipe: str  # "module:Class" of its Recipe subclass
    example: str = ""  # options of its own for its --help example, e.g. "--set beta=0.5"

    def config_class(self) -> type:
        """The trainer's pydantic config class."""
        return _resolve(self.config)

    def recipe_class(self) -> type:
        """The trainer's Recipe class."""
        return _resolve(self.recipe)


TRAINERS: dict[str, TrainerSpec] = {}


def register(spec: TrainerSpec) -> TrainerSpec:
    """Add (or replace) a trainer; its split kind must be one the lake knows."""
    if spec.split_kind not in SPLIT_KINDS:
        raise ConfigError(f"trainer '{spec.name}': unknown split kind '{spec.split_kind}'; "
                          f"kinds: {', '.join(SPLIT_KINDS)}")
    TRAINERS[spec.name] = spec
    return spec


def trainer_spec(name: str) -> TrainerSpec:
    """The registered trainer `name`, or a ConfigError listing the trainers."""
    if name not in TRAINERS:
        raise ConfigError(f"unknown trainer '{name}'; trainers: {', '.join(TRAINERS)}")
    return TRAINERS[name]


def _resolve(reference: str) -> type:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


register(TrainerSpec("sft", "sft", "supervised fine-tuning on an sft split (messages)",
                     "trainers.sft:SFTConfig", "trainers.sft:SFTRecipe", "--set packing=false --set epochs=2"))
register(TrainerSpec("dpo", "preference", "direct preference optimisation on a preference split",
                     "trainers.dpo:DPOConfig", "trainers.dpo:DPORecipe", "--set loss_type=ipo --set beta=0.5"))
register(TrainerSpec("grpo", "rl", "group relative policy optimisation on an rl split (verifier rewards)",
                     "trainers.grpo:GRPOConfig", "trainers.grpo:GRPORecipe",
                     "--set num_generations=8 --set beta=0.0"))
