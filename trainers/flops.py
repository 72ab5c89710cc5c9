"""Model FLOPs utilisation (MFU): the FLOPs a training step needs over what the device could do.

    model FLOPs of a batch = 6 · N · tokens + 6 · L · d · Σ s²
    MFU = model FLOPs per second / peak dense bf16 FLOP/s of the device

N counts the weights of every matrix multiply (all parameters minus the input embedding, plus
the LM head when it is tied to the embedding): 2 FLOPs per weight per token forward, 4 backward.
The attention term is QKᵀ and AV of every sequence (s tokens) in every layer (L layers, d =
heads x head dim): 4·s²·d forward without the mask, half with the causal one, times 3 with the
backward pass. Recomputation (gradient checkpointing), DPO's reference pass and GRPO's sampling
are not model FLOPs: MFU counts useful work only (PaLM, Chowdhery et al. 2022, appendix B).
The peak is the vendor's dense (no 2:4 sparsity) bf16 tensor figure; unknown devices get no MFU.
"""

from dataclasses import dataclass

import torch

from trainers.model_parts import base_model, text_config

# Dense bf16 tensor-core peaks, TFLOP/s, by a fragment of the device name (first match wins).
PEAK_BF16_TFLOPS = (
    ("H200", 989.4), ("GH200", 989.4), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4),
    ("H800", 989.4), ("B200", 2250.0), ("B100", 1750.0), ("A100", 312.0), ("A800", 312.0),
    ("L40S", 362.1), ("L40", 181.0), ("L4", 121.0), ("A10G", 70.0), ("A10", 125.0), ("RTX 4090", 165.2),
)


def peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak FLOP/s of a CUDA device from PEAK_BF16_TFLOPS; None when unknown or CPU."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tflops * 1e12 for fragment, tflops in PEAK_BF16_TFLOPS if fragment in name), None)


@dataclass(frozen=True)
class ModelFlops:
    """The numbers the formula needs from a model's config and weights."""

    matmul_params: int  # N
    layers: int  # L
    attention_width: int  # d = heads x head dim

    @classmethod
    def of(cls, model) -> "ModelFlops":
        base, config = base_model(model), text_config(model)
        total = sum(p.numel() for p in base.parameters())
        embedding = base.get_input_embeddings().weight.numel()
        head = base.get_output_embeddings()
        tied = head is not None and head.weight is base.get_input_embeddings().weight
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        return cls(total - embedding + (embedding if tied else 0), config.num_hidden_layers,
                   config.num_attention_heads * head_dim)

    def batch_flops(self, tokens: int, squared_lengths: int) -> float:
        """Model FLOPs of one forward + backward over `tokens` tokens whose sequences have
        lengths s with Σ s² = `squared_lengths`."""
        return 6.0 * self.matmul_params * tokens + 6.0 * self.layers * self.attention_width * squared_lengths


def squared_lengths(sequence_ids: torch.Tensor) -> int:
    """Σ s² over the sequences of a batch (`sequence_ids`: owner per token, -1 on padding)."""
    owners = sequence_ids[sequence_ids >= 0]
    return int((torch.bincount(owners).long() ** 2).sum()) if owners.numel() else 0
