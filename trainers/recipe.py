"""What every trainer's recipe shares: the lifecycle `fit` drives, the seeded data order and
bf16 autocast. A trainer is one recipe module (its config and its Recipe subclass) plus one
line in trainers/registry.py.

    recipe = SFTRecipe(rows, tokenizer, cfg, eval_rows)  # tokenizes every row: bad rows fail here
    recipe.setup(model, device, bf16, **context)         # once, with the loaded model
    fit(model, tokenizer, recipe, cfg, ...)              # order -> prepare -> loss; evaluate
"""

from abc import ABC, abstractmethod
from contextlib import nullcontext

import torch

from trainers.config import TrainConfig


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """A seeded permutation per epoch, so a resumed run sees the same order."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on the device when asked; fp32 otherwise."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16 else nullcontext()


class Recipe(ABC):
    """One trainer's data and loss. Subclasses set `n_examples` (entries of an epoch's order: the rows
    left after encoding, or more when rows repeat) in `__init__` and implement `prepare` and `loss`;
    `setup`, `order` and `evaluate` have defaults."""

    updates_per_step = 1  # optimizer updates per step (GRPO: num_iterations)
    n_examples: int

    def __init__(self, rows: list[dict], tokenizer, cfg: TrainConfig, eval_rows: list[dict] | None = None):
        self.cfg, self.tokenizer, self.pad_id = cfg, tokenizer, tokenizer.pad_token_id
        self.device, self.bf16 = torch.device("cpu"), False

    @property
    def n_rows(self) -> int:
        """Split rows the recipe trains on (n_examples counts order() entries, which may repeat rows)."""
        return self.n_examples

    def setup(self, model, device: torch.device, bf16: bool, **context) -> None:
        """Called once with the loaded model before the first step. `context` holds the run's
        extras (`model_path`, and whatever the caller of `trainers.run.execute` passes)."""
        self.device, self.bf16 = device, bf16

    def order(self, epoch: int) -> list[int]:
        """Example indices for `epoch`."""
        return epoch_order(self.n_examples, self.cfg.seed, epoch)

    @abstractmethod
    def prepare(self, model, micro_batches: list[list[int]]) -> tuple[list[list], dict[str, float]]:
        """Collate (or roll out) one step: a list of optimizer updates, each a list of micro-batches,
        and the step's metrics."""

    @abstractmethod
    def loss(self, model, batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The batch's loss, already scaled for its accumulation window, and its metrics."""

    def evaluate(self, model) -> dict[str, float]:
        """Metrics on the eval rows (none by default)."""
        return {}
