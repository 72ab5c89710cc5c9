"""The pure loss functions on hand-checked numbers."""

import math

import pytest
import torch

from trainers.losses import (dpo_loss, group_advantages, grpo_loss, length_penalty, sequence_logps, sft_loss,
                             zero_variance_groups)


def test_sft_loss_is_mean_nll_over_the_window():
    logps = torch.log(torch.tensor([0.5, 0.25]))
    assert sft_loss(logps, 2).item() == pytest.approx((math.log(2) + math.log(4)) / 2)
    assert sft_loss(logps, 4).item() == pytest.approx((math.log(2) + math.log(4)) / 4)  # accumulation window


def test_sequence_logps_sums_per_sequence():
    totals = sequence_logps(torch.tensor([-1.0, -2.0, -3.0, -4.0]), torch.tensor([0, 0, 1, 2]), 3)
    assert totals.tolist() == [-3.0, -3.0, -4.0]


def test_dpo_sigmoid_is_log2_at_the_reference_and_falls_with_the_margin():
    zero = torch.zeros(2)
    losses, chosen, rejected = dpo_loss(zero, zero, zero, zero, beta=0.1)
    assert losses.tolist() == pytest.approx([math.log(2)] * 2)
    losses, chosen, rejected = dpo_loss(torch.tensor([1.0]), torch.tensor([-1.0]), zero[:1], zero[:1], beta=0.5)
    assert losses.item() == pytest.approx(-math.log(1 / (1 + math.exp(-1.0))))
    assert (chosen.item(), rejected.item()) == (0.5, -0.5)


def test_ipo_targets_a_margin_of_one_over_two_beta_per_token():
    beta = 0.25
    lengths = torch.tensor([2.0])
    losses, _, _ = dpo_loss(torch.tensor([4.0]), torch.tensor([0.0]), torch.zeros(1), torch.zeros(1), beta=beta,
                            loss_type="ipo", chosen_lengths=lengths, rejected_lengths=lengths)
    assert losses.item() == pytest.approx(0.0)  # (4/2 - 0) == 1 / (2 * 0.25)


def test_group_advantages_normalise_within_each_group():
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.5, 0.5])
    adv = group_advantages(rewards, 2)
    std = torch.tensor([1.0, 0.0]).std().item()
    assert adv[:2].tolist() == pytest.approx([0.5 / (std + 1e-4), -0.5 / (std + 1e-4)])
    assert adv[4:].tolist() == [0.0, 0.0]
    assert group_advantages(rewards, 2, scale="none")[:2].tolist() == [0.5, -0.5]


def test_zero_variance_groups_flag_uniform_rewards():
    assert zero_variance_groups(torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0]), 2).tolist() == [True, False, True]


def test_length_penalty_rewards_short_correct_and_never_rewards_wrong():
    lengths = torch.tensor([10, 20, 30, 10])
    correct = torch.tensor([True, True, False, False])
    penalty = length_penalty(lengths, correct, 4)
    assert penalty.tolist() == pytest.approx([0.5, 0.0, -0.5, 0.0])
    assert length_penalty(torch.tensor([5, 5]), torch.tensor([True, False]), 2).tolist() == [0.0, 0.0]


def test_grpo_loss_on_policy_is_minus_mean_advantage_and_clips_off_policy():
    logps = torch.tensor([[-1.0, -2.0], [-1.0, -1.0]], requires_grad=True)
    mask = torch.tensor([[1, 1], [1, 0]])
    adv = torch.tensor([1.0, -1.0])
    loss, stats = grpo_loss(logps, None, adv, mask, loss_type="dapo")
    assert loss.item() == pytest.approx(-(1 + 1 - 1) / 3)
    assert stats["clip_ratio"].item() == 0.0
    old = logps.detach() - 1.0  # ratio e > 1 + eps with positive advantage: clipped
    loss, stats = grpo_loss(logps, old, adv, mask, loss_type="grpo")
    assert stats["clip_ratio"].item() == pytest.approx(2 / 3)
    assert loss.item() == pytest.approx(((-1.2 - 1.2) / 2 + math.e) / 2, rel=1e-5)
    with pytest.raises(ValueError, match="unknown GRPO loss_type"):
        grpo_loss(logps, None, adv, mask, loss_type="nope")
