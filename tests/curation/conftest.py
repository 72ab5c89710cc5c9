"""Curation fixtures: the tiny random Llama (tests/conftest.py) behind the transformers backend."""

import pytest


@pytest.fixture(scope="session")
def hf_backend(tiny_model_dir):
    """The transformers backend on the tiny model, loaded once per session."""
    from curation.backends import load_backend

    backend = load_backend("transformers", tiny_model_dir, options={"batch_size": 8})
    yield backend
    backend.close()
