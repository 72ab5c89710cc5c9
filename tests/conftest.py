"""Shared fixtures: a fresh lake per test, the bundled model (prepared once per session)."""

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def runs_dir(tmp_path_factory):
    """Engine logs of the commands tests run (runs/<run_id>/engine.log) go to a temporary folder."""
    from flows.engine_log import RUNS_ENV

    before = os.environ.get(RUNS_ENV)
    os.environ[RUNS_ENV] = str(tmp_path_factory.mktemp("runs"))
    yield Path(os.environ[RUNS_ENV])
    if before is None:
        os.environ.pop(RUNS_ENV, None)
    else:
        os.environ[RUNS_ENV] = before


@pytest.fixture
def lake(tmp_path):
    """An empty lake in a temporary directory."""
    from schemas.lake import Lake

    return Lake(tmp_path / "lake")


@pytest.fixture(scope="session")
def bundled_model_path():
    """The converted SmolLM2-135M-Instruct directory (converted once if missing)."""
    from curation.models import prepare_bundled

    return prepare_bundled()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, bundled_model_path):
    """A 2-layer, 32-wide random Llama saved with the bundled tokenizer (local files only)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def saved_dtypes(path: Path) -> tuple[str | None, set[str]]:
    """(the dtype a saved model's config.json declares, the dtypes of its safetensors tensors)."""
    from safetensors import safe_open

    names = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}
    found = set()
    for file in Path(path).glob("*.safetensors"):
        with safe_open(file, "pt") as weights:
            found |= {names.get(weights.get_slice(k).get_dtype(), "other") for k in weights.keys()}
    return json.loads((Path(path) / "config.json").read_text()).get("dtype"), found


@pytest.fixture(scope="session")
def weight_dtypes():
    """saved_dtypes, for tests in any folder."""
    return saved_dtypes
