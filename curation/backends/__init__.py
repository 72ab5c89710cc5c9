"""Generation backends: vLLM (default), transformers (fallback, tests), OpenAI-compatible servers."""

from curation.backends.base import Completion, GenerationBackend, Sampling
from curation.backends.factory import BACKEND_KINDS, identity_without_engine, load_backend, reported_model_name

__all__ = ["BACKEND_KINDS", "Completion", "GenerationBackend", "Sampling", "identity_without_engine", "load_backend",
           "reported_model_name"]
