"""Build a generation backend by kind; the engine modules are imported only when asked for."""

from pathlib import Path

from curation.backends.base import GenerationBackend, ModelIdentity, local_model_identity
from schemas.errors import ConfigError

BACKEND_KINDS = ("vllm", "transformers", "openai")


def reported_model_name(kind: str, model: str | Path) -> str:
    """The name a backend of this kind reports for `model` (generations.model, prompt_stats.model):
    the backend class's own rule, without loading an engine."""
    return backend_class(kind).reported_name(model)


def backend_class(kind: str) -> type[GenerationBackend]:
    """The backend class of a kind, imported on demand."""
    if kind == "vllm":
        from curation.backends.vllm_backend import VLLMBackend

        return VLLMBackend
    if kind == "transformers":
        from curation.backends.hf_backend import HFBackend

        return HFBackend
    if kind == "openai":
        from curation.backends.openai_backend import OpenAIBackend

        return OpenAIBackend
    raise ConfigError(f"unknown backend '{kind}'; choose one of {', '.join(BACKEND_KINDS)}")


def load_backend(kind: str, model: str | Path, *, seed: int = 0,
                 options: dict | None = None) -> GenerationBackend:
    """Build a backend: "vllm" (default engine), "transformers" (fallback, tests) or "openai"
    (any OpenAI-compatible server; `model` is the served model name)."""
    cls = backend_class(kind)
    if kind == "openai":
        return cls(str(model), seed=seed, options=options)
    from curation.models import resolve_model

    return cls(resolve_model(model), seed=seed, options=options)


def takes_request_seeds(kind: str) -> bool:
    """Whether a backend of this kind honours per-request seeds on this machine, without loading it."""
    if kind == "vllm":
        from curation.backends.vllm_backend import platform_takes_request_seeds

        return platform_takes_request_seeds()
    return backend_class(kind).supports_request_seeds


def identity_without_engine(kind: str, model: str | Path, options: dict | None) -> ModelIdentity:
    """The identity a loaded backend would report, from the files alone (no engine)."""
    if kind == "openai":
        from curation.backends.openai_backend import openai_identity

        return openai_identity(str(model), (options or {}).get("base_url"))
    backend_class(kind)  # an unknown kind fails here, before any file is read
    from transformers import AutoTokenizer

    from curation.models import resolve_model

    path = resolve_model(model)
    return local_model_identity(path, AutoTokenizer.from_pretrained(path).chat_template)
