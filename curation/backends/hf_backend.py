"""The transformers backend: batched `generate` with left padding; the fallback and the test engine."""

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field

from curation.backends.base import (Completion, Conversation, GenerationBackend, ModelIdentity, Sampling,
                                    check_prefixes, check_seeds, local_model_identity, parse_options)
from schemas.config import StrictModel
from schemas.errors import DeviceError, ModelError
from schemas.ids import content_id


class HFOptions(StrictModel):
    """Settings of the transformers backend."""

    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:1, ...")
    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="weight dtype")
    batch_size: int = Field(16, ge=1, description="sequences (conversations x n) per generate call")


class HFBackend(GenerationBackend):
    """Samples with `model.generate`, each sequence from its own seed (a per-row generator), so a
    sample is the same whatever shares its batch. Without `seeds`, they derive from `sampling.seed`."""

    kind = "transformers"
    supports_request_seeds = True

    def __init__(self, model_dir: Path, *, seed: int = 0, options: dict | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.options = parse_options(HFOptions, options, "transformers")
        if self.options.device.startswith("cuda") and not torch.cuda.is_available():
            raise DeviceError(f"backend 'transformers': device '{self.options.device}' asked for, "
                              "but CUDA is not available")
        self.model_name, self.seed = self.reported_name(model_dir), seed
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
            self.model = AutoModelForCausalLM.from_pretrained(
                model_dir, dtype=getattr(torch, self.options.dtype))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load model from {model_dir}: {exc}") from None
        self.model.to(self.options.device).eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.eos_ids = _eos_ids(self.model, self.tokenizer)
        self._identity = local_model_identity(model_dir, self.tokenizer.chat_template)

    def identity(self) -> ModelIdentity:
        """The weights' fingerprint and the tokenizer's chat template."""
        return self._identity

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling, *,
                 prefixes: list[str] | None = None, want_entropy: bool = False,
                 progress: Callable[[int], None] | None = None,
                 seeds: list[list[int]] | None = None) -> list[list[Completion]]:
        """n completions per conversation, sample j of conversation i drawn from seeds[i][j]; with
        want_entropy the exact mean entropy of softmax(logits / temperature) over the generated tokens."""
        check_prefixes(conversations, prefixes)
        check_seeds(conversations, n, seeds)
        if seeds is None:
            seeds = [[int(content_id(sampling.seed, i, j), 16) % 2**63 for j in range(n)]
                     for i in range(len(conversations))]
        texts = [self._render(conv, None if prefixes is None else prefixes[i])
                 for i, conv in enumerate(conversations)]
        per_batch = max(1, self.options.batch_size // n)
        results: list[list[Completion]] = []
        for start in range(0, len(texts), per_batch):
            results.extend(self._generate_batch(texts[start:start + per_batch], n, sampling, want_entropy,
                                                [s for row in seeds[start:start + per_batch] for s in row]))
            if progress is not None:
                progress(len(results))
        return results

    def _render(self, conversation: Conversation, prefix: str | None) -> str:
        if prefix is None:
            return self.tokenizer.apply_chat_template(conversation, tokenize=False,
                                                      add_generation_prompt=True)
        return self.tokenizer.apply_chat_template(
            conversation + [{"role": "assistant", "content": prefix}], tokenize=False,
            continue_final_message=True)

    def _generate_batch(self, texts: list[str], n: int, sampling: Sampling, want_entropy: bool,
                        seeds: list[int]):
        import torch
        from transformers import LogitsProcessorList

        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        inputs = inputs.to(self.options.device)
        # one row per sample (prompt repeated n times); sampling happens in SeededSampler, so
        # generate() itself decodes greedily over the one token each row's generator picked
        inputs = {key: value.repeat_interleave(n, dim=0) for key, value in inputs.items()}
        processors = LogitsProcessorList([SeededSampler(seeds, sampling)] if sampling.temperature > 0 else [])
        with torch.no_grad():
            out = self.model.generate(
                **inputs, do_sample=False, logits_processor=processors, max_new_tokens=sampling.max_tokens,
                pad_token_id=self.tokenizer.pad_token_id, eos_token_id=sorted(self.eos_ids),
                return_dict_in_generate=True, output_logits=want_entropy)
        new_tokens = out.sequences[:, inputs["input_ids"].shape[1]:].cpu()
        entropies = _entropies(out.logits, sampling.temperature) if want_entropy else None
        completions = [self._completion(row, i, entropies, sampling.max_tokens)
                       for i, row in enumerate(new_tokens.tolist())]
        return [completions[i:i + n] for i in range(0, len(completions), n)]

    def _completion(self, tokens: list[int], row: int, entropies, max_tokens: int) -> Completion:
        stop_at = next((i for i, tok in enumerate(tokens) if tok in self.eos_ids), None)
        n_tokens = len(tokens) if stop_at is None else stop_at + 1  # the EOS counts, as in vLLM
        finish = "stop" if stop_at is not None or n_tokens < max_tokens else "length"
        text = self.tokenizer.decode(tokens[:stop_at if stop_at is not None else n_tokens],
                                     skip_special_tokens=True)  # the EOS is counted, never shown
        entropy = None
        if entropies is not None:
            entropy = float(entropies[row, :n_tokens].mean()) if n_tokens else 0.0
        return Completion(text, n_tokens, finish, entropy)

    def close(self) -> None:
        """Drop the model."""
        self.model = None


class SeededSampler:
    """A logits processor that samples each row's next token from that row's own generator (after
    temperature and top-p) and leaves only that token possible, so greedy decoding takes it."""

    def __init__(self, seeds: list[int], sampling: Sampling):
        import torch
        from transformers import TemperatureLogitsWarper, TopPLogitsWarper

        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.warpers = [TemperatureLogitsWarper(sampling.temperature)]
        if sampling.top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(sampling.top_p))

    def __call__(self, input_ids, scores):
        import torch

        for warper in self.warpers:
            scores = warper(input_ids, scores)
        probs = torch.softmax(scores.float(), dim=-1).cpu()
        picks = torch.cat([torch.multinomial(row, 1, generator=generator)
                           for row, generator in zip(probs, self.generators)]).to(scores.device)
        chosen = torch.full_like(scores, float("-inf"))
        chosen[torch.arange(scores.shape[0], device=scores.device), picks] = 0.0
        return chosen


def _eos_ids(model, tokenizer) -> set[int]:
    configured = model.generation_config.eos_token_id
    ids = set(configured if isinstance(configured, list) else [configured]) - {None}
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    if not ids:
        raise ModelError("model has no end-of-sequence token id; cannot tell finished completions")
    return ids


def _entropies(logits: tuple, temperature: float):
    """Per-token entropies [sequences, steps] of softmax(logits / temperature)."""
    import torch

    stacked = torch.stack(logits, dim=1).float()  # [sequences, steps, vocab]
    if temperature <= 0:
        return torch.zeros(stacked.shape[:2])
    logp = torch.log_softmax(stacked / temperature, dim=-1)
    return -(logp.exp() * torch.where(torch.isfinite(logp), logp, 0.0)).sum(-1).cpu()
