"""The generation backend contract: sampling settings, completions, and the backend base class."""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from schemas.config import StrictModel, validate_model
from schemas.errors import ConfigError
from schemas.ids import canonical_json

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


class GenerationBackend(ABC):
    """Turns chat conversations into n sampled completions each. Subclasses load their engine once."""

    model_name: str = "unknown"

    @abstractmethod
    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling, *,
                 prefixes: list[str] | None = None, want_entropy: bool = False,
                 progress: Callable[[int], None] | None = None) -> list[list[Completion]]:
        """n completions per conversation, in order. `prefixes[i]` is an assistant-message
        start to continue from (excluded from the text); progress(done) after each batch."""

    def close(self) -> None:
        """Free the engine; the backend is unusable afterwards."""


def check_prefixes(conversations: list[Conversation], prefixes: list[str] | None) -> None:
    """Fail loudly when prefixes do not line up with conversations."""
    if prefixes is not None and len(prefixes) != len(conversations):
        raise ConfigError(f"got {len(prefixes)} prefixes for {len(conversations)} conversations")


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
