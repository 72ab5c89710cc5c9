"""max_tokens_per_batch: micro-batches split between examples (GRPO: between samples) train to
the same loss and weights as unsplit ones, in more, smaller forward passes."""

import pytest
import torch

from parallel_check import AlternatingSampler
from tiny_models import add_split, digit_preference_rows, digit_sft_rows, rl_rows
from trainers.collate import split_by_budget
from trainers.config import load_config
from trainers.fit import StepPlan
from trainers.run import prepare_run


def test_split_by_budget_keeps_order_and_isolates_large_items():
    assert split_by_budget([3, 3, 3, 3], 6) == [[0, 1], [2, 3]]
    assert split_by_budget([5, 9, 2, 2], 6) == [[0], [1], [2, 3]]
    assert split_by_budget([5, 9], None) == [[0, 1]] and split_by_budget([], 4) == []


@pytest.fixture
def splits(lake):
    add_split(lake, "sft", "sft", digit_sft_rows(16))
    add_split(lake, "preference", "preference", digit_preference_rows(16))
    add_split(lake, "rl", "rl", rl_rows(8))
    return lake


OPTIONS = {"sft": {"split": "sft"}, "dpo": {"split": "preference"},
           "grpo": {"split": "rl", "num_generations": 4, "max_new_tokens": 2, "filter_zero_variance": False,
                    "rollout_backend": "transformers"}}


def run(trainer, splits, model_dir, out, **extra):
    losses, norms, forwards = {}, {}, []
    cfg = load_config(trainer, None, {**OPTIONS[trainer], "model": str(model_dir), "out": str(out), "max_steps": 2,
                                      "batch_size": 8 if trainer != "grpo" else 4, "learning_rate": 1e-5,
                                      "progress": False, "device": "cpu", "seed": 5, **extra})
    prepared = prepare_run(trainer, cfg, lake=splits, run_id="budget")
    loss = prepared.recipe.loss
    prepared.recipe.loss = lambda model, batch: forwards.append(batch.n_tokens) or loss(model, batch)
    context = {"sampler": AlternatingSampler(prepared.tokenizer)} if trainer == "grpo" else {}
    from trainers.run import execute

    def record(step, metrics):
        losses[step], norms[step] = metrics["loss"], metrics["grad_norm"]

    result = execute(prepared, run_id="budget", on_metrics=record, **context)
    return {"loss": losses, "grad_norm": norms}, forwards, result.model.state_dict()


@pytest.mark.parametrize("trainer,extra", [("sft", {}), ("dpo", {}), ("grpo", {}), ("grpo", {"loss_type": "bnpo"}),
                                           ("grpo", {"loss_type": "grpo", "num_iterations": 2})],
                         ids=["sft", "dpo", "grpo-dapo", "grpo-bnpo", "grpo-grpo-2-iterations"])
def test_a_token_budget_changes_the_batches_not_the_training(trainer, extra, splits, digit_model_dir, tmp_path):
    whole, whole_forwards, whole_weights = run(trainer, splits, digit_model_dir, tmp_path / "a", **extra)
    budget = max(whole_forwards) // 3
    split, split_forwards, split_weights = run(trainer, splits, digit_model_dir, tmp_path / "b",
                                               max_tokens_per_batch=budget, **extra)
    assert len(split_forwards) > len(whole_forwards)
    assert sum(split_forwards) == sum(whole_forwards)
    for metric, values in whole.items():  # same loss and gradient (norm) at every step
        for step, value in values.items():
            assert split[metric][step] == pytest.approx(value, rel=1e-4, abs=1e-7), (metric, step)
    for name, weight in whole_weights.items():  # Adam's first steps are about ±lr even for noise-sized gradients
        assert torch.allclose(weight, split_weights[name], atol=5e-5), name


def test_the_step_plan_splits_each_micro_batch_under_the_budget(splits, digit_model_dir):
    cfg = load_config("sft", None, {"split": "sft", "model": str(digit_model_dir), "batch_size": 8, "grad_accum": 2})
    recipe = prepare_run("sft", cfg, lake=splits, run_id="plan").recipe
    plan = StepPlan(recipe, cfg)
    whole = plan.micro_batches(0)
    split = plan.micro_batches(0, budget=40)
    assert [i for m in split for i in m] == [i for m in whole for i in m] and len(split) > len(whole)
    assert all(sum(recipe.example_tokens(i) for i in m) <= 40 for m in split if len(m) > 1)
