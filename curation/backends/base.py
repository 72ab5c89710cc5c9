"""The generation backend contract: sampling settings, completions, and the backend base class."""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from curation.model_identity import model_fingerprint, template_fingerprint
from schemas.config import StrictModel, validate_model
from schemas.errors import ConfigError
from schemas.ids import canonical_json, content_id

Conversation = list[dict]


class Sampling(StrictModel):
    """How candidates are sampled; `record()` is what generations.sampling stores."""

    k: int = Field(4, ge=1, description="samples per prompt")
    temperature: float = Field(0.8, ge=0.0, description="sampling temperature (0 = greedy)")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling mass")
    max_tokens: int = Field(256, ge=1, description="most new tokens per completion")
    seed: int = Field(0, ge=0, description="random seed of the sampler")

    def record(self) -> str:
        """Canonical JSON of the settings that shape one sample; k is left out, so raising k
        later reuses the samples already drawn."""
        return canonical_json(self.model_dump(include={"temperature", "top_p", "max_tokens", "seed"}))


@dataclass
class Completion:
    """One sampled answer; `mean_entropy` (nats/token at the sampling temperature) only on request."""

    text: str
    n_tokens: int
    finish_reason: str  # "stop" | "length"
    mean_entropy: float | None = None


@dataclass(frozen=True)
class ModelIdentity:
    """What a backend's samples depend on besides the prompt and sampling settings."""

    fingerprint: str  # weights + config + tokenizer (curation/model_identity.py), or a served model's name
    chat_template: str  # hash of the chat template the prompts are rendered with


def local_model_identity(model_dir, chat_template: str | None) -> ModelIdentity:
    """The identity of a model directory rendered with `chat_template`."""
    return ModelIdentity(model_fingerprint(model_dir), template_fingerprint(chat_template))


class GenerationBackend(ABC):
    """Turns chat conversations into n sampled completions each. Subclasses load their engine once.

    A backend with `supports_request_seeds` takes `seeds=[[seed per sample] per conversation]` in
    generate() and draws each sample from its own seed alone, whatever else shares its batch; the
    others draw from the engine's seed, so a sample depends on what was generated before it.
    """

    kind: str = "custom"  # the config's `backend` value
    model_name: str = "unknown"
    supports_request_seeds: bool = False

    @staticmethod
    def reported_name(model: str | Path) -> str:
        """The name this kind of backend reports for `model` (generations.model): an engine over
        local weights says its model folder's name."""
        return Path(model).name

    @abstractmethod
    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling, *,
                 prefixes: list[str] | None = None, want_entropy: bool = False,
                 progress: Callable[[int], None] | None = None) -> list[list[Completion]]:
        """n completions per conversation, in order. `prefixes[i]` is an assistant-message
        start to continue from (excluded from the text); progress(done) after each batch."""

    def identity(self) -> ModelIdentity:
        """The model's identity. Engines over local weights override this with the weights'
        fingerprint; a backend with nothing to hash (a test's scripted policy) is its name."""
        return ModelIdentity(content_id("named model", self.model_name), template_fingerprint(None))

    def close(self) -> None:
        """Free the engine; the backend is unusable afterwards."""


def check_prefixes(conversations: list[Conversation], prefixes: list[str] | None) -> None:
    """Fail loudly when prefixes do not line up with conversations."""
    if prefixes is not None and len(prefixes) != len(conversations):
        raise ConfigError(f"got {len(prefixes)} prefixes for {len(conversations)} conversations")


def check_seeds(conversations: list[Conversation], n: int, seeds: list[list[int]] | None) -> None:
    """Fail loudly when per-sample seeds do not line up with conversations x n."""
    if seeds is not None and (len(seeds) != len(conversations) or any(len(row) != n for row in seeds)):
        raise ConfigError(f"seeds must give {n} seeds for each of {len(conversations)} conversations")


def parse_options(options_model: type[BaseModel], options: dict | None, kind: str):
    """Validate a backend's options dict, naming the backend and the bad key on failure."""
    return validate_model(options_model, options or {}, f"backend '{kind}' options")


def entropy_from_logprobs(logprobs: list[float], temperature: float) -> float:
    """Entropy (nats) of the distribution the given log-probs span, re-tempered and renormalized.

    Log-probs of a top-k list at temperature 1 only cover part of the vocabulary; scaling by
    1/temperature and renormalizing gives the entropy of the sampler restricted to those tokens.
    """
    import math

    if temperature <= 0 or not logprobs:
        return 0.0
    scaled = [lp / temperature for lp in logprobs]
    top = max(scaled)
    weights = [math.exp(s - top) for s in scaled]
    total = sum(weights)
    return -sum(w / total * math.log(w / total) for w in weights if w > 0)
