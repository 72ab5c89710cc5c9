"""Checkpoints: exact resume, and a saved model that transformers loads with identical logits."""

import pytest
import torch

from schemas.errors import ConfigError
from tiny_models import add_split, digit_sft_rows, rl_rows
from trainers.checkpoint import list_checkpoints, read_lineage
from trainers.config import load_config
from trainers.run import train

OPTIONS = {
    "sft": {"split": "sft", "batch_size": 2, "max_steps": 8, "learning_rate": 1e-2, "warmup_steps": 2},
    "grpo": {"split": "rl", "batch_size": 2, "num_generations": 4, "max_new_tokens": 2, "max_steps": 8,
             "learning_rate": 1e-2, "rollout_backend": "transformers", "filter_zero_variance": False},
}


class Crash(Exception):
    pass


def config(trainer, model_dir, out, **extra):
    return load_config(trainer, None, {**OPTIONS[trainer], "model": str(model_dir), "out": str(out),
                                       "save_interval": 3, "progress": False, "seed": 1, **extra})


@pytest.fixture
def splits(lake):
    add_split(lake, "sft", "sft", digit_sft_rows(8))
    add_split(lake, "rl", "rl", rl_rows(8, stages=True))
    return lake


def crash_at(step):
    def on_metrics(done, metrics):
        if done == step:
            raise Crash(f"stopped at step {step}")
    return on_metrics


@pytest.mark.parametrize("trainer,extra", [("sft", {}), ("grpo", {}), ("sft", {"weights": "bf16"})],
                         ids=["sft", "grpo", "sft-bf16-weights"])
def test_resume_ends_at_the_same_weights_as_an_uninterrupted_run(trainer, extra, splits, digit_model_dir, tmp_path):
    straight = train(trainer, config(trainer, digit_model_dir, tmp_path / "a", **extra), lake=splits).model
    with pytest.raises(Crash):  # dies during step 5: the last checkpoint is step 3
        train(trainer, config(trainer, digit_model_dir, tmp_path / "b", **extra), lake=splits,
              on_metrics=crash_at(5))
    assert [p.name for p in list_checkpoints(tmp_path / "b")] == ["checkpoint-3"]
    steps = []
    resumed = train(trainer, config(trainer, digit_model_dir, tmp_path / "b", resume=True, **extra), lake=splits,
                    on_metrics=lambda done, metrics: steps.append(done))
    assert steps[0] == 4 and steps[-1] == 8
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name
    assert read_lineage(tmp_path / "b")["resumed_from"].endswith("checkpoint-3")


def test_gradient_checkpointing_saves_memory_not_results(splits, digit_model_dir, tmp_path):
    plain = train("sft", config("sft", digit_model_dir, tmp_path / "a", max_steps=3), lake=splits).model
    recomputed = train("sft", config("sft", digit_model_dir, tmp_path / "b", max_steps=3,
                                     gradient_checkpointing=True), lake=splits).model
    assert recomputed.is_gradient_checkpointing
    for (name, a), (_, b) in zip(plain.state_dict().items(), recomputed.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_saved_checkpoint_loads_with_the_same_logits(splits, digit_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    result = train("sft", config("sft", digit_model_dir, tmp_path / "out"), lake=splits)
    loaded = AutoModelForCausalLM.from_pretrained(result.checkpoint).eval()
    ids = torch.tensor([[1, 3, 6, 10, 2, 1, 4]])
    result.model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=ids).logits, result.model(input_ids=ids).logits)
    lineage = read_lineage(result.checkpoint)
    assert lineage["split"] == "sft" and lineage["split_version"] == lineage["lake_snapshot"] is not None


def test_lora_checkpoint_is_saved_merged(splits, digit_model_dir, tmp_path):
    pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    result = train("sft", config("sft", digit_model_dir, tmp_path / "lora", max_steps=3,
                                 lora={"r": 4, "alpha": 8}), lake=splits)
    assert not (result.checkpoint / "adapter_config.json").exists()
    loaded = AutoModelForCausalLM.from_pretrained(result.checkpoint).eval()
    base = AutoModelForCausalLM.from_pretrained(digit_model_dir).eval()
    ids = torch.tensor([[1, 3, 6, 10, 2, 1, 4]])
    with torch.no_grad():
        merged = result.model.eval()(input_ids=ids).logits
        assert torch.allclose(loaded(input_ids=ids).logits, merged, atol=1e-5)
        assert not torch.allclose(base(input_ids=ids).logits, merged, atol=1e-3)


def test_resume_refuses_a_checkpoint_of_another_split(splits, digit_model_dir, tmp_path):
    add_split(splits, "sft2", "sft", digit_sft_rows(4))
    with pytest.raises(Crash):
        train("sft", config("sft", digit_model_dir, tmp_path / "c"), lake=splits, on_metrics=crash_at(4))
    with pytest.raises(ConfigError, match="split"):
        train("sft", config("sft", digit_model_dir, tmp_path / "c", resume=True, split="sft2"), lake=splits)


def load_quietly(path, **options):
    """Load a saved model with transformers; return it and every warning or log record it raised."""
    import logging
    import warnings

    from transformers import AutoModelForCausalLM

    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger().addHandler(handler)
    logging.getLogger("transformers").addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = AutoModelForCausalLM.from_pretrained(path, **options).eval()
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("transformers").removeHandler(handler)
    return model, [str(w.message) for w in caught] + [r.getMessage() for r in records]


def test_final_model_is_saved_in_the_dtype_its_config_declares(splits, digit_model_dir, tmp_path, weight_dtypes):
    runs = {dtype: train("sft", config("sft", digit_model_dir, tmp_path / dtype, max_steps=3, save_interval=2,
                                       save_dtype=dtype), lake=splits) for dtype in ("auto", "bfloat16")}
    # auto: the float32 master weights, as trained; resumable checkpoints always keep the training dtype
    assert weight_dtypes(runs["auto"].checkpoint) == ("float32", {"float32"})
    assert weight_dtypes(runs["bfloat16"].checkpoint) == ("bfloat16", {"bfloat16"})
    assert weight_dtypes(list_checkpoints(tmp_path / "bfloat16")[0]) == ("float32", {"float32"})
    ids = torch.tensor([[1, 3, 6, 10, 2, 1, 4]])
    with torch.no_grad():
        exact = runs["auto"].model.eval()(input_ids=ids).logits
        for dtype, run in runs.items():
            loaded, complaints = load_quietly(run.checkpoint)  # dtype "auto" in transformers 5: as declared
            assert complaints == [], complaints
            assert loaded.dtype == getattr(torch, "float32" if dtype == "auto" else dtype)
            assert loaded.lm_head.weight.data_ptr() == loaded.model.embed_tokens.weight.data_ptr()  # still tied
            logits = loaded(input_ids=ids).logits.float()
            if dtype == "auto":
                assert torch.equal(logits, exact)
            else:  # rounded weights: close to the trained model, not equal
                assert torch.allclose(logits, exact, atol=0.1) and not torch.equal(logits, exact)
