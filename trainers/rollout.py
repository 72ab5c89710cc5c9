"""GRPO sampling: G completions per prompt from the live policy.

`TransformersSampler` calls `generate` on the training model itself (always current).
`VLLMSampler` keeps a vLLM engine and loads the policy's weights into it before each batch;
it is used on CUDA when vLLM is installed (rollout_backend: auto) or when asked for.
"""

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from curation.backends.vllm_backend import resolve_enforce_eager
from schemas.errors import ConfigError


@dataclass
class Completion:
    """One sampled completion: its token ids (ending in EOS unless truncated) and text."""

    ids: list[int]
    text: str
    truncated: bool


def trim(ids: list[int], eos_ids: set[int], pad_id: int | None, limit: int) -> tuple[list[int], bool]:
    """Cut a generated row after its first EOS; drop padding. Returns (ids, truncated)."""
    for position, token in enumerate(ids):
        if token in eos_ids:
            return ids[:position + 1], False
    kept = [t for t in ids if t != pad_id] if pad_id is not None and pad_id not in eos_ids else ids
    return kept[:limit], True


class TransformersSampler:
    """Sample with `model.generate` (left-padded prompt batches, no gradient)."""

    def __init__(self, tokenizer, *, max_new_tokens: int, temperature: float, top_p: float,
                 batch_prompts: int = 16):
        self.tokenizer, self.max_new_tokens = tokenizer, max_new_tokens
        self.temperature, self.top_p, self.batch_prompts = temperature, top_p, batch_prompts
        eos = tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(self.eos_ids))

    def generate(self, model, prompts: list[list[int]], n: int, *, greedy: bool = False) -> list[Completion]:
        """len(prompts) * n completions, grouped by prompt (n consecutive per prompt)."""
        was_training = model.training
        model.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(prompts), self.batch_prompts):
                out += self._generate_batch(model, prompts[start:start + self.batch_prompts], n, greedy)
        model.train(was_training)
        return out

    def _generate_batch(self, model, prompts, n, greedy):
        device = next(model.parameters()).device
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt):] = torch.tensor(prompt)
            mask[row, width - len(prompt):] = 1
        sampling = {"do_sample": False} if greedy else {
            "do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": 0}
        generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                   max_new_tokens=self.max_new_tokens, num_return_sequences=n,
                                   pad_token_id=self.pad_id, eos_token_id=list(self.eos_ids), **sampling)
        completions = []
        for row in generated[:, width:].tolist():
            kept, truncated = trim(row, self.eos_ids, self.pad_id, self.max_new_tokens)
            text = self.tokenizer.decode(kept, skip_special_tokens=True)
            completions.append(Completion(kept, text, truncated))
        return completions


class VLLMSampler:
    """Sample with a vLLM engine in this process; weights follow the policy before each batch."""

    def __init__(self, model_path: Path, tokenizer, *, max_new_tokens: int, temperature: float,
                 top_p: float, seed: int, gpu_memory_utilization: float, dtype: str, enforce_eager: bool | None):
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # weights are loaded in process
        from vllm import LLM, SamplingParams

        # CUDA graphs survive the weight reloads: `sync` copies into the engine's own tensors
        eager = resolve_enforce_eager(enforce_eager)
        self.llm = LLM(model=str(model_path), seed=seed, dtype=dtype, enforce_eager=eager,
                       gpu_memory_utilization=gpu_memory_utilization)
        self.tokenizer, self.max_new_tokens = tokenizer, max_new_tokens
        self._params = lambda n, greedy: SamplingParams(  # noqa: E731
            n=n, temperature=0.0 if greedy else temperature, top_p=1.0 if greedy else top_p,
            max_tokens=max_new_tokens)

    def sync(self, model) -> None:
        """Load the policy's current weights into the engine (LoRA merged on the fly)."""
        weights = list(_merged_state_dict(model).items())
        try:  # vLLM >= 0.32: in-place reload that keeps the engine's kernel layout
            self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
        except (AttributeError, NotImplementedError):
            self.llm.apply_model(lambda engine_model: engine_model.load_weights(weights))
        self.llm.reset_prefix_cache()

    def generate(self, model, prompts: list[list[int]], n: int, *, greedy: bool = False) -> list[Completion]:
        self.sync(model)
        requests = [{"prompt_token_ids": p} for p in prompts]
        outputs = self.llm.generate(requests, self._params(n, greedy), use_tqdm=False)
        completions = []
        for output in outputs:
            for sample in output.outputs:
                ids = list(sample.token_ids)
                completions.append(Completion(ids, sample.text, sample.finish_reason == "length"))
        return completions


def _merged_state_dict(model) -> dict[str, torch.Tensor]:
    if hasattr(model, "merge_adapter") and hasattr(model, "get_base_model"):
        model.merge_adapter()
        base = model.get_base_model()
        state = {k.replace(".base_layer", ""): v.detach().clone() for k, v in base.state_dict().items()
                 if "lora_" not in k}
        model.unmerge_adapter()
        return state
    return {k: v.detach() for k, v in model.state_dict().items()}


def make_sampler(backend: str, *, model_path: Path, tokenizer, device: torch.device, cfg, bf16: bool):
    """The sampler for `backend` (auto: vLLM on CUDA when installed, else transformers)."""
    has_vllm = importlib.util.find_spec("vllm") is not None
    if backend == "vllm" and not has_vllm:
        raise ConfigError("rollout_backend 'vllm' needs vLLM (pip install 'warmstart[gpu]' or '[cpu]')")
    if backend == "vllm" or (backend == "auto" and has_vllm and device.type == "cuda"):
        return VLLMSampler(model_path, tokenizer, max_new_tokens=cfg.max_new_tokens,
                           temperature=cfg.temperature, top_p=cfg.top_p, seed=cfg.seed,
                           gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
                           dtype="bfloat16" if bf16 else "float32", enforce_eager=cfg.vllm_enforce_eager)
    return TransformersSampler(tokenizer, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                               top_p=cfg.top_p)
