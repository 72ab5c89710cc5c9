"""Each trainer learns a toy task end to end: split in a lake -> recipe -> loop -> checkpoint."""

import pytest

from tiny_models import add_split, digit_preference_rows, digit_sft_rows, rl_rows
from trainers.config import load_config
from trainers.run import train


def run(trainer, lake, model_dir, tmp_path, **options):
    metrics = []
    cfg = load_config(trainer, None, {"model": str(model_dir), "out": str(tmp_path / "out"), "progress": False,
                                      "seed": 0, **options})
    result = train(trainer, cfg, lake=lake, on_metrics=lambda step, values: metrics.append(values))
    return result, [m for m in metrics if "loss" in m or "reward" in m]


def test_sft_memorises_eight_examples(lake, digit_model_dir, tmp_path):
    add_split(lake, "sft", "sft", digit_sft_rows(8))
    result, metrics = run("sft", lake, digit_model_dir, tmp_path, split="sft", batch_size=4, grad_accum=2,
                          max_steps=80, learning_rate=1e-2, warmup_steps=2, lr_schedule="constant")
    assert metrics[0]["loss"] > 2.0  # ln(17) ~ 2.8 at random init
    assert metrics[-1]["loss"] < 0.05
    assert result.lineage["split"] == "sft" and result.lineage["lake_snapshot"] is not None


def test_dpo_reaches_full_reward_accuracy(lake, digit_model_dir, tmp_path):
    add_split(lake, "pref", "preference", digit_preference_rows(6))
    result, metrics = run("dpo", lake, digit_model_dir, tmp_path, split="pref", batch_size=6, max_steps=30,
                          learning_rate=3e-3, beta=0.1, lr_schedule="constant")
    assert metrics[0]["rewards/accuracies"] == 0.0 and abs(metrics[0]["loss"] - 0.6931) < 1e-3
    assert metrics[-1]["rewards/accuracies"] == 1.0
    assert metrics[-1]["rewards/margins"] > 1.0 and metrics[-1]["loss"] < 0.3


def test_grpo_raises_mean_reward_on_a_verifiable_toy_task(lake, digit_model_dir, tmp_path):
    """Reward 1 when the one-token answer is "7" (exact verifier); a random policy starts near 1/17."""
    add_split(lake, "rl", "rl", rl_rows(8, answer="7", verifier="exact", stages=True))
    result, metrics = run("grpo", lake, digit_model_dir, tmp_path, split="rl", batch_size=4, num_generations=8,
                          max_new_tokens=1, max_steps=14, learning_rate=1e-2, rollout_backend="transformers")
    first = sum(m["reward"] for m in metrics[:3]) / 3
    last = sum(m["reward"] for m in metrics[-3:]) / 3
    assert first < 0.4 and last > 0.8
    assert {"pass_rate", "completion_length", "frac_reward_zero_std"} <= set(metrics[0])


GRPO_TOY = {"max_new_tokens": 1, "num_generations": 2, "rollout_backend": "transformers"}


@pytest.mark.parametrize("trainer,kind,rows", [("sft", "sft", digit_sft_rows), ("grpo", "rl", rl_rows)])
def test_eval_split_is_scored_every_interval_and_at_the_end(trainer, kind, rows, lake, digit_model_dir, tmp_path):
    add_split(lake, "train", kind, rows(8))
    add_split(lake, "held_out", kind, rows(4))
    eval_steps = []

    def on_metrics(step, metrics):
        if any(name.startswith("eval/") for name in metrics):
            eval_steps.append(step)

    cfg = load_config(trainer, None, {"model": str(digit_model_dir), "out": str(tmp_path / "out"), "progress": False,
                                      "split": "train", "eval_split": "held_out", "eval_interval": 2,
                                      "max_steps": 4, "batch_size": 2, **(GRPO_TOY if trainer == "grpo" else {})})
    result = train(trainer, cfg, lake=lake, on_metrics=on_metrics)
    assert eval_steps == [2, 4]
    assert any(name.startswith("eval/") for name in result.metrics) and result.lineage["eval_split"] == "held_out"
