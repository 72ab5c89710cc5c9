"""Build a generation backend by kind; the engine modules are imported only when asked for."""

from pathlib import Path

from curation.backends.base import GenerationBackend
from schemas.errors import ConfigError

BACKEND_KINDS = ("vllm", "transformers", "openai")


def load_backend(kind: str, model: str | Path, *, seed: int = 0,
                 options: dict | None = None) -> GenerationBackend:
    """Build a backend: "vllm" (default engine), "transformers" (fallback, tests) or "openai"
    (any OpenAI-compatible server; `model` is the served model name)."""
    if kind == "openai":
        from curation.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(str(model), seed=seed, options=options)
    if kind not in BACKEND_KINDS:
        raise ConfigError(f"unknown backend '{kind}'; choose one of {', '.join(BACKEND_KINDS)}")
    from curation.models import resolve_model

    path = resolve_model(model)
    if kind == "vllm":
        from curation.backends.vllm_backend import VLLMBackend

        return VLLMBackend(path, seed=seed, options=options)
    from curation.backends.hf_backend import HFBackend

    return HFBackend(path, seed=seed, options=options)
