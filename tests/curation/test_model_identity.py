"""Model fingerprints follow the weights and config, not the folder name, and are cached."""

import json
import os
import shutil

import pytest

from curation.model_identity import CACHE_NAME, model_fingerprint
from schemas.errors import ModelError


def _model(folder, weights: bytes = b"\x00" * 64, config: dict | None = None):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config or {"model_type": "llama", "hidden_size": 8}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def test_same_files_in_another_folder_share_a_fingerprint(tmp_path):
    a = _model(tmp_path / "a")
    b = tmp_path / "elsewhere" / "b"
    shutil.copytree(a, b)
    assert model_fingerprint(a) == model_fingerprint(b)


def test_other_weights_under_the_same_folder_name_differ(tmp_path):
    first = model_fingerprint(_model(tmp_path / "one" / "policy", b"\x00" * 64))
    second = model_fingerprint(_model(tmp_path / "two" / "policy", b"\x00" * 63 + b"\x01"))
    assert first != second


def test_config_and_chat_template_count(tmp_path):
    base = model_fingerprint(_model(tmp_path / "a"))
    assert model_fingerprint(_model(tmp_path / "b", config={"model_type": "llama", "hidden_size": 16})) != base
    other = _model(tmp_path / "c")
    (other / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ other }}"}))
    assert model_fingerprint(other) != base


def test_training_state_files_do_not_count(tmp_path):
    folder = _model(tmp_path / "a")
    before = model_fingerprint(folder)
    (folder / "lineage.json").write_text(json.dumps({"run_id": "x"}))
    assert model_fingerprint(folder) == before


def test_cached_beside_the_model_and_refreshed_when_a_file_changes(tmp_path):
    folder = _model(tmp_path / "a")
    before = model_fingerprint(folder)
    assert json.loads((folder / CACHE_NAME).read_text())["fingerprint"] == before
    weights = folder / "model.safetensors"
    weights.write_bytes(b"\x02" * 64)
    os.utime(weights, ns=(1, 1))  # a changed stamp, whatever the clock's resolution
    assert model_fingerprint(folder) != before


def test_unwritable_model_folder_caches_in_the_user_cache(tmp_path, monkeypatch):
    folder = _model(tmp_path / "a")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (folder / CACHE_NAME).mkdir()  # the cache file cannot be written there (as root, chmod would not stop it)
    value = model_fingerprint(folder)
    assert len(list((tmp_path / "cache" / "warmstart" / "fingerprints").glob("*.json"))) == 1
    assert model_fingerprint(folder) == value


def test_not_a_model_is_a_model_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        model_fingerprint(tmp_path / "empty")
    folder = tmp_path / "noweights"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="no weight files"):
        model_fingerprint(folder)
