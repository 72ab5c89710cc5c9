"""compile: true runs each decoder layer through torch.compile and trains to the same losses."""

import pytest

from tiny_models import add_split, digit_sft_rows
from trainers.config import load_config
from trainers.run import train


@pytest.mark.slow
def test_compiled_layers_train_like_eager_ones(lake, digit_model_dir, tmp_path):
    add_split(lake, "sft", "sft", digit_sft_rows(8))
    losses, compiled = {}, []
    for flag in (False, True):
        cfg = load_config("sft", None, {"split": "sft", "model": str(digit_model_dir), "out": str(tmp_path / str(flag)),
                                        "max_steps": 2, "batch_size": 4, "progress": False, "device": "cpu",
                                        "compile": flag, "learning_rate": 1e-3})
        steps = {}
        result = train("sft", cfg, lake=lake, on_metrics=lambda step, m: steps.__setitem__(step, m["loss"]))
        losses[flag] = steps
        compiled.append(type(result.model.model.layers[0].forward).__name__)
    assert compiled[0] == "method" and compiled[1] != "method"  # the compiled forward replaces the method
    for step, loss in losses[False].items():
        assert losses[True][step] == pytest.approx(loss, rel=1e-4)
