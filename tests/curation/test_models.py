"""The bundled model: prepared once, in the dtype its config declares; an older conversion is redone."""

import json

import pytest
import torch

from curation.models import BUNDLED_DTYPE, PREPARED_FORMAT, PREPARED_MARKER, is_prepared, prepare_bundled


def test_the_bundled_model_is_saved_in_the_dtype_its_config_declares(bundled_model_path, weight_dtypes):
    assert weight_dtypes(bundled_model_path) == (BUNDLED_DTYPE, {BUNDLED_DTYPE})
    assert is_prepared(bundled_model_path)


def old_conversion(dest):
    """A model folder as the first conversion left it: float32 weights, no marker."""
    from safetensors.torch import save_file

    dest.mkdir(parents=True)
    (dest / "config.json").write_text(json.dumps({"dtype": "float32"}))
    save_file({"w": torch.zeros(2, dtype=torch.float32)}, dest / "model.safetensors")
    return dest


def test_only_the_current_conversion_counts_as_prepared(tmp_path):
    dest = old_conversion(tmp_path / "m")
    assert not is_prepared(dest)
    (dest / PREPARED_MARKER).write_text(json.dumps({"format": PREPARED_FORMAT - 1}))
    assert not is_prepared(dest)
    (dest / PREPARED_MARKER).write_text(json.dumps({"format": PREPARED_FORMAT}))
    assert is_prepared(dest) and prepare_bundled(dest) == dest  # nothing converted: the fake stays


@pytest.mark.slow
def test_a_model_from_an_older_conversion_is_converted_again(tmp_path, weight_dtypes):
    dest = old_conversion(tmp_path / "m")
    assert prepare_bundled(dest) == dest
    assert weight_dtypes(dest) == (BUNDLED_DTYPE, {BUNDLED_DTYPE}) and is_prepared(dest)
    stamp = (dest / "model.safetensors").stat().st_mtime_ns
    prepare_bundled(dest)
    assert (dest / "model.safetensors").stat().st_mtime_ns == stamp  # prepared once
