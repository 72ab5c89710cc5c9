"""DPO recipe: reference log-probs computed once up front, then one policy forward per batch.

No second model is kept in memory: before the first update the policy *is* the reference, so
its log-probs of every chosen and rejected completion are stored and reused.
"""

from typing import Literal

import torch
from pydantic import Field

from schemas.errors import SplitError
from trainers.collate import collate, completion_sequence, encode_preference
from trainers.config import TrainConfig
from trainers.logprobs import label_logps
from trainers.losses import dpo_loss, sequence_logps
from trainers.recipe import Recipe, autocast


class DPOConfig(TrainConfig):
    """Direct preference optimisation on `preference` splits (prompt, chosen, rejected)."""

    learning_rate: float = Field(1e-6, gt=0, le=1, description="peak AdamW learning rate")
    beta: float = Field(0.1, gt=0, description="strength of the implicit KL to the reference")
    loss_type: Literal["sigmoid", "ipo"] = Field("sigmoid", description="DPO (sigmoid) or IPO loss")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description="conservative-DPO label noise (sigmoid)")
    packing: bool = Field(True, description="padding-free packing of chosen and rejected sequences")


def encode_pairs(rows: list[dict], tokenizer, cfg: DPOConfig) -> list[dict]:
    """Tokenized pairs whose prompt leaves room for completion tokens within max_length."""
    pairs = [encode_preference(tokenizer, r["chat"], r["chosen"], r["rejected"], max_length=cfg.max_length)
             for r in rows]
    return [p for p in pairs if p["chosen_ids"] and p["rejected_ids"]]


class DPORecipe(Recipe):
    """Sigmoid (DPO) or IPO loss on packed [chosen..., rejected...] batches."""

    def __init__(self, rows: list[dict], tokenizer, cfg: DPOConfig, eval_rows: list[dict] | None = None):
        super().__init__(rows, tokenizer, cfg, eval_rows)
        self.pairs = encode_pairs(rows, tokenizer, cfg)
        if not self.pairs:
            raise SplitError(f"no preference pair fits max_length={cfg.max_length} with its completions")
        self.eval_pairs = encode_pairs(eval_rows or [], tokenizer, cfg)[:cfg.eval_max_examples]
        self.n_examples = len(self.pairs)

    def setup(self, model, device: torch.device, bf16: bool, **context) -> None:
        """Store the reference log-probs of every pair (train and eval) before any update; on
        several ranks each computes a share and all receive every result."""
        super().setup(model, device, bf16)

        def reference(group: list[dict]) -> list[tuple[float, float]]:
            chosen, rejected, _ = self._side_logps(model, self._collate(group).to(device))
            return list(zip(chosen.tolist(), rejected.tolist()))

        model.eval()
        with torch.no_grad(), autocast(device, bf16):
            for pairs in (self.pairs, self.eval_pairs):
                size = self.cfg.batch_size
                groups = [pairs[start:start + size] for start in range(0, len(pairs), size)]
                for group, logps in zip(groups, self.parallel.map_shared(groups, reference)):
                    for pair, (c, r) in zip(group, logps):
                        pair["ref_chosen"], pair["ref_rejected"] = c, r
        model.train()

    def example_tokens(self, index: int) -> int:
        pair = self.pairs[index]
        return 2 * len(pair["prompt_ids"]) + len(pair["chosen_ids"]) + len(pair["rejected_ids"])

    def _collate(self, pairs: list[dict]):
        sides = [completion_sequence(p["prompt_ids"], p["chosen_ids"]) for p in pairs]
        sides += [completion_sequence(p["prompt_ids"], p["rejected_ids"]) for p in pairs]
        batch = collate(sides, packing=self.cfg.packing, pad_id=self.pad_id, row_tokens=self.cfg.pack_length)
        if "ref_chosen" in pairs[0]:
            batch.extra["ref_chosen"] = torch.tensor([p["ref_chosen"] for p in pairs])
            batch.extra["ref_rejected"] = torch.tensor([p["ref_rejected"] for p in pairs])
        return batch

    @staticmethod
    def _side_logps(model, batch):
        logps = label_logps(model, batch)
        totals = sequence_logps(logps.values, logps.sequence_ids, batch.n_sequences)
        lengths = torch.bincount(logps.sequence_ids, minlength=batch.n_sequences).to(totals.dtype)
        half = batch.n_sequences // 2
        return totals[:half], totals[half:], (lengths[:half], lengths[half:])

    def prepare(self, model, micro_batches: list[list[int]]):
        n_pairs = int(self.parallel.sum(sum(len(m) for m in micro_batches)))  # over all ranks
        batches = [self._collate([self.pairs[i] for i in indices]) for indices in micro_batches]
        for b in batches:
            b.extra["n_pairs_window"] = n_pairs
        return [batches], {}

    def _loss_terms(self, model, batch):
        chosen, rejected, (chosen_len, rejected_len) = self._side_logps(model, batch)
        losses, chosen_rewards, rejected_rewards = dpo_loss(
            chosen, rejected, batch.extra["ref_chosen"], batch.extra["ref_rejected"], beta=self.cfg.beta,
            loss_type=self.cfg.loss_type, chosen_lengths=chosen_len, rejected_lengths=rejected_len,
            label_smoothing=self.cfg.label_smoothing)
        metrics = {"rewards/chosen": chosen_rewards.mean(), "rewards/rejected": rejected_rewards.mean(),
                   "rewards/margins": (chosen_rewards - rejected_rewards).mean(),
                   "rewards/accuracies": (chosen_rewards > rejected_rewards).float().mean(),
                   "logps/chosen": chosen.detach().mean(), "logps/rejected": rejected.detach().mean()}
        return losses, {k: float(v) for k, v in metrics.items()}

    def loss(self, model, batch):
        losses, metrics = self._loss_terms(model, batch)
        return losses.sum() / batch.extra["n_pairs_window"], metrics

    def evaluate(self, model) -> dict[str, float]:
        if not self.eval_pairs:
            return {}
        device = next(model.parameters()).device
        sums, n = {}, 0
        for start in range(0, len(self.eval_pairs), self.cfg.batch_size):
            group = self.eval_pairs[start:start + self.cfg.batch_size]
            losses, metrics = self._loss_terms(model, self._collate(group).to(device))
            metrics["loss"] = float(losses.mean())
            for name, value in metrics.items():
                sums[name] = sums.get(name, 0.0) + value * len(group)
            n += len(group)
        return {f"eval/{name}": value / n for name, value in sums.items()}
