"""Training losses as pure functions of log-probabilities: no model, no config objects.

Each matches the TRL 1.16 definition of the same name (tests/trainers/test_losses_parity.py):
`sft_loss` = SFTTrainer "nll", `dpo_loss` = DPOTrainer "sigmoid"/"ipo", `grpo_loss` = GRPOTrainer
"grpo"/"bnpo"/"dr_grpo"/"dapo", `group_advantages` = its group-normalized advantages.
"""

import torch
import torch.nn.functional as F

GRPO_LOSS_TYPES = ("dapo", "grpo", "bnpo", "dr_grpo")
DPO_LOSS_TYPES = ("sigmoid", "ipo")


def sft_loss(token_logps: torch.Tensor, num_tokens: int | torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the label tokens; `num_tokens` spans the accumulation window.

    >>> float(sft_loss(torch.log(torch.tensor([0.5, 0.5])), 2))
    0.6931471824645996
    """
    return -token_logps.sum() / torch.as_tensor(num_tokens, dtype=token_logps.dtype).clamp(min=1)


def sequence_logps(token_logps: torch.Tensor, sequence_ids: torch.Tensor, n_sequences: int) -> torch.Tensor:
    """Sum flat per-token log-probs into one log-prob per sequence (index `sequence_ids`)."""
    totals = token_logps.new_zeros(n_sequences)
    return totals.index_add(0, sequence_ids, token_logps)


def dpo_loss(chosen_logps: torch.Tensor, rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor, *, beta: float,
             loss_type: str = "sigmoid", chosen_lengths: torch.Tensor | None = None,
             rejected_lengths: torch.Tensor | None = None, label_smoothing: float = 0.0):
    """Per-pair DPO loss and the implicit rewards beta * (logp - ref_logp) of chosen and rejected.

    `sigmoid`: -log σ(β Δ) (conservative DPO when label_smoothing > 0). `ipo`: (Δ̄ - 1/(2β))² with
    Δ̄ the per-token-averaged log-ratio difference, so `*_lengths` (completion tokens) are required.
    """
    chosen_ratio = chosen_logps - ref_chosen_logps
    rejected_ratio = rejected_logps - ref_rejected_logps
    delta = chosen_ratio - rejected_ratio
    if loss_type == "sigmoid":
        losses = (-(1 - label_smoothing) * F.logsigmoid(beta * delta)
                  - label_smoothing * F.logsigmoid(-beta * delta))
    elif loss_type == "ipo":
        assert chosen_lengths is not None and rejected_lengths is not None, "ipo needs completion lengths"
        mean_delta = (chosen_ratio / chosen_lengths.clamp(min=1)
                      - rejected_ratio / rejected_lengths.clamp(min=1))
        losses = (mean_delta - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(f"unknown DPO loss_type '{loss_type}'; choose from {DPO_LOSS_TYPES}")
    return losses, beta * chosen_ratio.detach(), beta * rejected_ratio.detach()


def group_advantages(rewards: torch.Tensor, group_size: int, *, scale: str = "group",
                     eps: float = 1e-4) -> torch.Tensor:
    """(r - mean of its group) / (std + eps); groups are consecutive runs of `group_size` samples.

    `scale`: "group" (std within the group), "batch" (std over all rewards) or "none" (no division).
    The std is Bessel-corrected, as in TRL.
    """
    assert rewards.numel() % group_size == 0, f"{rewards.numel()} rewards not divisible into groups of {group_size}"
    grouped = rewards.view(-1, group_size)
    centered = (grouped - grouped.mean(dim=1, keepdim=True)).view(-1)
    if scale == "none":
        return centered
    if scale == "group":
        std = grouped.std(dim=1).repeat_interleave(group_size) if group_size > 1 else torch.zeros_like(rewards)
    elif scale == "batch":
        std = rewards.std().expand_as(rewards) if rewards.numel() > 1 else torch.zeros_like(rewards)
    else:
        raise ValueError(f"unknown reward scaling '{scale}'; choose group, batch or none")
    return centered / (std + eps)


def zero_variance_groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """One bool per group: True where every sample got the same reward (no learning signal)."""
    grouped = rewards.view(-1, group_size)
    return (grouped == grouped[:, :1]).all(dim=1)


def length_penalty(lengths: torch.Tensor, correct: torch.Tensor, group_size: int) -> torch.Tensor:
    """Per-sample length reward in [-0.5, 0.5] (Kimi k1.5): shorter is better within a group.

    λ = 0.5 - (len - min) / (max - min) (0 when all equal); correct samples get λ, incorrect ones min(0, λ), so a
    long wrong answer is penalised but a short wrong one is never rewarded.
    """
    grouped = lengths.float().view(-1, group_size)
    shortest = grouped.min(dim=1, keepdim=True).values
    spread = grouped.max(dim=1, keepdim=True).values - shortest
    lam = torch.where(spread > 0, 0.5 - (grouped - shortest) / spread.clamp(min=1),
                      torch.zeros_like(grouped)).view(-1)
    return torch.where(correct.bool(), lam, lam.clamp(max=0))


def grpo_loss(logps: torch.Tensor, old_logps: torch.Tensor | None, advantages: torch.Tensor,
              mask: torch.Tensor, *, epsilon_low: float = 0.2, epsilon_high: float = 0.2,
              beta: float = 0.0, ref_logps: torch.Tensor | None = None, loss_type: str = "dapo",
              num_items: float | torch.Tensor | None = None, max_completion_length: int | None = None,
              kl_ratio_correction: bool = True):
    """Clipped-ratio policy loss over completion tokens ([B, T] tensors, `mask` 1 on real tokens).

    ratio = exp(logp - old_logp) (old = detached current when None); per token
    -min(ratio·A, clip(ratio, 1-ε_low, 1+ε_high)·A) + β·KL3(ref‖policy), the KL estimate weighted by
    the ratio when `kl_ratio_correction` (TRL's default bias correction). Aggregation by `loss_type`:
    "grpo" mean of per-sequence means, "bnpo" token mean of this batch, "dr_grpo" sum / (B·max_len),
    "dapo" sum / `num_items` (completion tokens of the whole accumulation window).
    Returns (loss, stats) with stats of detached tensors: kl, clip_ratio.
    """
    old_logps = logps.detach() if old_logps is None else old_logps
    ratio = torch.exp(logps - old_logps)
    adv = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
    per_token = -torch.min(ratio * adv, clipped * adv)
    mask = mask.to(per_token.dtype)
    stats = {}
    if beta != 0.0:
        assert ref_logps is not None, "beta > 0 needs reference log-probs"
        kl = torch.exp(ref_logps - logps) - (ref_logps - logps) - 1
        per_token = per_token + beta * (kl * ratio if kl_ratio_correction else kl)
        stats["kl"] = ((kl * mask).sum() / mask.sum().clamp(min=1)).detach()
    is_clipped = ((ratio < 1 - epsilon_low) & (adv < 0)) | ((ratio > 1 + epsilon_high) & (adv > 0))
    stats["clip_ratio"] = ((is_clipped.float() * mask).sum() / mask.sum().clamp(min=1)).detach()
    if loss_type == "grpo":
        loss = ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)).mean()
    elif loss_type == "bnpo":
        loss = (per_token * mask).sum() / mask.sum().clamp(min=1)
    elif loss_type == "dr_grpo":
        assert max_completion_length, "dr_grpo needs max_completion_length"
        loss = (per_token * mask).sum() / (per_token.size(0) * max_completion_length)
    elif loss_type == "dapo":
        denominator = mask.sum() if num_items is None else torch.as_tensor(num_items, dtype=per_token.dtype)
        loss = (per_token * mask).sum() / denominator.clamp(min=1)
    else:
        raise ValueError(f"unknown GRPO loss_type '{loss_type}'; choose from {GRPO_LOSS_TYPES}")
    return loss, stats
