"""Generation through any OpenAI-compatible chat server (e.g. a vLLM server on another host)."""

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import Field

from curation.backends.base import (Completion, Conversation, GenerationBackend, ModelIdentity, Sampling,
                                    check_prefixes, entropy_from_logprobs, parse_options)
from curation.model_identity import remote_fingerprint, template_fingerprint
from schemas.config import StrictModel
from schemas.errors import ConfigError, ModelError

TOP_LOGPROBS = 20


class OpenAIOptions(StrictModel):
    """Where the server is and how to authenticate; the key itself stays in the environment."""

    base_url: str | None = Field(None, description="server URL ending in /v1; None = api.openai.com")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the API key")
    concurrency: int = Field(8, ge=1, description="requests in flight at once")
    timeout_s: float = Field(600.0, gt=0, description="seconds before one request is abandoned")


class OpenAIBackend(GenerationBackend):
    """One chat.completions request per conversation, with n choices. Prefixes use vLLM's
    `continue_final_message` extension. No per-request seed: the server decides. There are no
    weights to hash: the model is identified by its served name and the server's address."""

    kind = "openai"

    @staticmethod
    def reported_name(model: str | Path) -> str:
        """A served model is reported by its served name, as the server knows it."""
        return str(model)

    def __init__(self, model: str, *, seed: int = 0, options: dict | None = None):
        self.options = parse_options(OpenAIOptions, options, "openai")
        try:
            import openai
        except ImportError:
            raise ModelError("backend 'openai' needs the openai package (pip install openai)") from None
        key = os.environ.get(self.options.api_key_env)
        if key is None and self.options.base_url is None:
            raise ConfigError(f"backend 'openai': environment variable {self.options.api_key_env} "
                              "is not set (it holds the API key)")
        # a self-hosted server without --api-key accepts any key, but the client needs one
        self._client = openai.OpenAI(base_url=self.options.base_url, api_key=key or "EMPTY",
                                     timeout=self.options.timeout_s, max_retries=2)
        self._errors = (openai.OpenAIError,)
        self.model_name, self.seed = self.reported_name(model), seed

    def identity(self) -> ModelIdentity:
        """The served name + base URL (no credentials); the server applies its own chat template."""
        return openai_identity(self.model_name, self.options.base_url)

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling, *,
                 prefixes: list[str] | None = None, want_entropy: bool = False,
                 progress: Callable[[int], None] | None = None) -> list[list[Completion]]:
        """n completions per conversation; entropy from the server's top-20 log-probs."""
        check_prefixes(conversations, prefixes)

        def one(i: int) -> list[Completion]:
            prefix = None if prefixes is None else prefixes[i]
            return self._request(conversations[i], prefix, n, sampling, want_entropy)

        results: list[list[Completion]] = []
        with ThreadPoolExecutor(self.options.concurrency) as pool:
            for completions in pool.map(one, range(len(conversations))):
                results.append(completions)
                if progress is not None:
                    progress(len(results))
        return results

    def _request(self, conversation, prefix, n, sampling, want_entropy) -> list[Completion]:
        messages = list(conversation)
        extra = None
        if prefix is not None:
            messages.append({"role": "assistant", "content": prefix})
            extra = {"continue_final_message": True, "add_generation_prompt": False}
        try:
            response = self._client.chat.completions.create(
                model=self.model_name, messages=messages, n=n, temperature=sampling.temperature,
                top_p=sampling.top_p, max_tokens=sampling.max_tokens, logprobs=True,
                top_logprobs=TOP_LOGPROBS if want_entropy else None, extra_body=extra)
        except self._errors as exc:
            raise ModelError(f"openai backend, model '{self.model_name}': request failed: {exc}") from None
        if len(response.choices) != n:
            raise ModelError(f"openai backend: asked for {n} choices, "
                             f"server returned {len(response.choices)}")
        share = (response.usage.completion_tokens // n) if response.usage else 0
        choices = sorted(response.choices, key=lambda choice: choice.index)
        return [_completion(choice, share, sampling.temperature, want_entropy) for choice in choices]


def openai_identity(served_name: str, base_url: str | None) -> ModelIdentity:
    """A served model's identity (also used by a Ray driver standing in for this backend)."""
    return ModelIdentity(remote_fingerprint(served_name, base_url), template_fingerprint(None))


def _completion(choice, tokens_if_unknown: int, temperature: float, want_entropy: bool) -> Completion:
    content = choice.logprobs.content if choice.logprobs and choice.logprobs.content else None
    n_tokens = len(content) if content is not None else tokens_if_unknown
    entropy = None
    if want_entropy and content:
        per_token = [entropy_from_logprobs([top.logprob for top in token.top_logprobs], temperature)
                     for token in content if token.top_logprobs]
        entropy = sum(per_token) / len(per_token) if per_token else None
    finish = "length" if choice.finish_reason == "length" else "stop"
    return Completion(choice.message.content or "", n_tokens, finish, entropy)
