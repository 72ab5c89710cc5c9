"""Generation backends: vLLM (default), transformers (fallback, tests), OpenAI-compatible servers."""

from curation.backends.base import Completion, GenerationBackend, Sampling
from curation.backends.factory import BACKEND_KINDS, load_backend

__all__ = ["BACKEND_KINDS", "Completion", "GenerationBackend", "Sampling", "load_backend"]
