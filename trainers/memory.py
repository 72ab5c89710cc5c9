"""Fit the run to the device: gradient checkpointing and a token budget per micro-batch.

What the user sets is kept. What is left unset (`gradient_checkpointing`, `max_tokens_per_batch`)
is chosen on CUDA before the first step from an estimate, and corrected once more if a step still
runs out of memory: first checkpointing goes on, then the token budget halves, down to the
longest example. On CPU nothing is chosen (off, no budget) unless a step runs out of memory.
The run summary says what was chosen and why (`MemoryPlan.note`).

The estimate: weights, gradients and optimizer state from the parameters and their dtypes, plus
activations per token measured by a probe forward (the bytes autograd saves for backward, by
storage, over one 256-token sequence), times the largest micro-batch's tokens.
"""

from dataclasses import dataclass, replace
from typing import Callable

import torch

from schemas.errors import DeviceError
from trainers.collate import Sequence, pack
from trainers.model_parts import text_config

GIB = 2**30
PROBE_TOKENS = 256
MARGIN = 1.25  # activations: backward transients and allocator slack over the saved bytes
RESERVE = 1 * GIB  # logits chunks, kernels' workspaces, fragmentation


@dataclass(frozen=True)
class MemoryPlan:
    """The memory settings in force and which of them the run may still change."""

    gradient_checkpointing: bool
    max_tokens_per_batch: int | None
    auto_checkpointing: bool  # the user left it unset: an OOM may turn it on
    auto_budget: bool  # likewise for the token budget
    note: str = ""

    def summary(self) -> str:
        """One line for the run summary: each setting, whether it was chosen or set, and why."""
        checkpointing = "on" if self.gradient_checkpointing else "off"
        budget = (f"at most {self.max_tokens_per_batch:,} tokens per micro-batch" if self.max_tokens_per_batch
                  else "micro-batches not split")
        return (f"gradient checkpointing {checkpointing} ({'chosen' if self.auto_checkpointing else 'as set'}), "
                f"{budget} ({'chosen' if self.auto_budget else 'as set'})" + (f"; {self.note}" if self.note else ""))


def is_oom(exc: BaseException) -> bool:
    """A CUDA out-of-memory error, or the CPU allocator's."""
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


def static_bytes(model, optimizer: str, world: int = 1) -> dict[str, int]:
    """Bytes of weights, gradients and optimizer state (per process when sharded over `world`)."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    trained = [p for p in model.parameters() if p.requires_grad]
    grads = sum(p.numel() * p.element_size() for p in trained)
    per_param = 2 if optimizer == "adamw_8bit" else 8  # two moments: 8-bit, or fp32 (BF16AdamW too)
    state = sum(p.numel() * per_param for p in trained)
    return {"weights": weights // world, "grads": grads // world, "optimizer": state // world}


def probe_activation_bytes(model, device: torch.device, bf16: bool) -> float:
    """Bytes autograd saves for backward per token, from one forward over a random sequence."""
    from trainers.logprobs import label_logps
    from trainers.recipe import autocast

    vocab = model.get_input_embeddings().weight.size(0)
    ids = torch.randint(0, vocab, (PROBE_TOKENS,), generator=torch.Generator().manual_seed(0)).tolist()
    batch = pack([Sequence(ids, ids)]).to(device)
    seen, total = set(), [0]

    def pack_hook(tensor):
        key = (tensor.untyped_storage().data_ptr(), tensor.device)
        if key not in seen:
            seen.add(key)
            total[0] += tensor.untyped_storage().nbytes()
        return tensor

    was_training = model.training
    model.train()
    with torch.enable_grad(), autocast(device, bf16), torch.autograd.graph.saved_tensors_hooks(pack_hook, lambda t: t):
        label_logps(model, batch).values.sum()
    model.train(was_training)
    return total[0] / PROBE_TOKENS


def checkpointed_bytes(per_token_off: float, model) -> float:
    """Per-token activations with checkpointing: each layer keeps its input, and one layer at a
    time holds its full activations while it is recomputed."""
    config = text_config(model)
    layers = config.num_hidden_layers
    residual = next(model.parameters()).element_size() * config.hidden_size
    return per_token_off / layers + layers * residual


def device_free_bytes(device: torch.device) -> int | None:
    """Free memory of a CUDA device (None elsewhere: no plan is made)."""
    if device.type != "cuda":
        return None
    return torch.cuda.mem_get_info(device)[0]


def plan_memory(model, cfg, device: torch.device, bf16: bool, *, largest_tokens: Callable[[], int],
                longest_example: Callable[[], int], world: int = 1) -> MemoryPlan:
    """Choose what cfg leaves unset so the largest micro-batch fits (see the module doc).
    `largest_tokens` and `longest_example` are counted only when a choice is made."""
    auto_ckpt, auto_budget = cfg.gradient_checkpointing is None, cfg.max_tokens_per_batch is None
    plan = MemoryPlan(bool(cfg.gradient_checkpointing), cfg.max_tokens_per_batch, auto_ckpt, auto_budget)
    free = device_free_bytes(device)
    if free is None and (auto_ckpt or auto_budget):
        return replace(plan, note=f"no plan on {device.type}: free memory is unknown there")
    if free is None or not (auto_ckpt or auto_budget):
        return plan
    largest, longest = largest_tokens(), longest_example()
    static = static_bytes(model, cfg.optimizer, world)
    room = free - static["grads"] - static["optimizer"] - RESERVE  # the weights are already loaded
    per_token_off = probe_activation_bytes(model, device, bf16) * MARGIN
    per_token_on = checkpointed_bytes(per_token_off, model)
    tokens = min(largest, cfg.max_tokens_per_batch or largest)
    needed = tokens * per_token_off
    if auto_ckpt and not plan.gradient_checkpointing and needed > room:
        plan = replace(plan, gradient_checkpointing=True,
                       note=f"a {tokens:,}-token micro-batch needs ~{needed / GIB:.1f} GiB of activations "
                            f"without checkpointing, {max(room, 0) / GIB:.1f} GiB are free")
    per_token = per_token_on if plan.gradient_checkpointing else per_token_off
    if auto_budget and tokens * per_token > room:
        fits = int(max(room, 0) // per_token)
        if fits < longest:
            raise DeviceError(
                f"the model does not fit {device}: gradients and optimizer state need "
                f"{(static['grads'] + static['optimizer']) / GIB:.1f} GiB beyond the weights and one "
                f"{longest:,}-token example ~{longest * per_token / GIB:.1f} GiB more; "
                f"{free / GIB:.1f} GiB are free; try --set weights=bf16, --lora or more --gpus")
        plan = replace(plan, max_tokens_per_batch=fits,
                       note=(plan.note + "; " if plan.note else "") + f"about {fits:,} tokens fit per micro-batch")
    return plan


def set_checkpointing(model, on: bool) -> None:
    """Turn transformers' (non-reentrant) gradient checkpointing on or off."""
    if on == bool(getattr(model, "is_gradient_checkpointing", False)):
        return
    if on:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_disable()


def escalate(plan: MemoryPlan, tokens: int, longest_example: int, device) -> MemoryPlan:
    """The next plan after a micro-batch of `tokens` ran out of memory, or a DeviceError that
    says what to set when nothing is left to choose."""
    if plan.auto_checkpointing and not plan.gradient_checkpointing:
        return replace(plan, gradient_checkpointing=True, note=f"out of memory at {tokens:,} tokens without "
                                                                "checkpointing: turned it on")
    budget = (plan.max_tokens_per_batch or tokens) // 2
    if plan.auto_budget and budget >= longest_example:
        return replace(plan, max_tokens_per_batch=budget,
                       note=f"out of memory at {tokens:,} tokens per micro-batch: {budget:,} per micro-batch")
    raise DeviceError(out_of_memory_message(plan, tokens, longest_example, device))


def out_of_memory_message(plan: MemoryPlan, tokens: int, longest_example: int, device) -> str:
    """One line: what ran out of memory and what would fit, where that can be told."""
    tips = []
    if not plan.gradient_checkpointing:
        tips.append("--gradient-checkpointing")
    if tokens // 2 >= longest_example:
        tips.append(f"--max-tokens-per-batch {tokens // 2}")
    tips += ["--set weights=bf16", "--lora"]
    return (f"out of memory on {device}: a micro-batch of {tokens:,} tokens (gradient checkpointing "
            f"{'on' if plan.gradient_checkpointing else 'off'}; the longest example has {longest_example:,}) "
            f"does not fit; try {', '.join(tips)}")
