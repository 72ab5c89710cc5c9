"""Log-probabilities of label tokens, without materialising the [tokens, vocab] logits.

The backbone runs once; only positions whose next token is a label go through the LM head,
in chunks, and the backward pass recomputes each chunk's logits instead of storing them. With a
49k vocabulary this saves most of the memory and a good share of the time of a plain forward.
"""

from dataclasses import dataclass

import torch

from trainers.collate import IGNORE, Batch
from trainers.model_parts import backbone, base_model, text_config

# Rows of logits per chunk: bounded so one chunk's float32 logits stay near 64 MiB.
_CHUNK_ELEMENTS = 1 << 24
# Config attributes that change the logits after the LM head; models with them take the plain path.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier",
                     "lm_head_multiplier")


@dataclass
class LabelLogps:
    """Log-probs of the label tokens (flat, in batch order) and the sequence each belongs to."""

    values: torch.Tensor
    sequence_ids: torch.Tensor


class _ChunkedLabelLogProbs(torch.autograd.Function):
    """log softmax(h Wᵀ + b)[label] per row, chunked; backward recomputes the chunk logits."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, labels, temperature):
        chunk = max(1, _CHUNK_ELEMENTS // weight.size(0))
        out = hidden.new_empty(hidden.size(0))
        lse = hidden.new_empty(hidden.size(0))
        for start in range(0, hidden.size(0), chunk):
            rows = slice(start, start + chunk)
            logits = _logits(hidden[rows], weight, bias, temperature)
            lse[rows] = torch.logsumexp(logits, dim=-1)
            out[rows] = logits.gather(1, labels[rows].unsqueeze(1)).squeeze(1) - lse[rows]
        ctx.save_for_backward(hidden, weight, bias if bias is not None else torch.empty(0), labels, lse)
        ctx.has_bias, ctx.temperature, ctx.chunk = bias is not None, temperature, chunk
        return out

    @staticmethod
    def backward(ctx, grad_out):
        hidden, weight, bias, labels, lse = ctx.saved_tensors
        bias = bias if ctx.has_bias else None
        need_hidden, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad_hidden = torch.empty_like(hidden) if need_hidden else None
        grad_weight = torch.zeros_like(weight) if need_weight else None  # frozen under LoRA: skip
        grad_bias = torch.zeros_like(bias) if bias is not None and need_bias else None
        for start in range(0, hidden.size(0), ctx.chunk):
            rows = slice(start, start + ctx.chunk)
            probs = _logits(hidden[rows], weight, bias, ctx.temperature).sub_(lse[rows].unsqueeze(1)).exp_()
            # d logp[label] / d logits = onehot(label) - softmax; scaled by the incoming gradient
            grad_logits = probs.mul_(-grad_out[rows].unsqueeze(1))
            grad_logits.scatter_add_(1, labels[rows].unsqueeze(1), grad_out[rows].unsqueeze(1))
            grad_logits.div_(ctx.temperature)
            if grad_hidden is not None:
                grad_hidden[rows] = grad_logits @ weight
            if grad_weight is not None:
                grad_weight.addmm_(grad_logits.t(), hidden[rows])
            if grad_bias is not None:
                grad_bias += grad_logits.sum(0)
        return grad_hidden, grad_weight, grad_bias, None, None


def _logits(hidden, weight, bias, temperature):
    logits = hidden @ weight.t()
    if bias is not None:
        logits = logits + bias
    return logits / temperature if temperature != 1.0 else logits


def _backbone_and_head(model):
    """The decoder stack and the LM head, or (None, None) when the head needs the plain path."""
    config = text_config(model)
    if any(getattr(config, name, None) not in (None, 1, 1.0) for name in _LOGIT_TRANSFORMS):
        return None, None
    stack, head = backbone(model), base_model(model).get_output_embeddings()
    if stack is None or head is None or not hasattr(head, "weight"):
        return None, None
    return stack, head


def label_logps(model, batch: Batch, *, temperature: float = 1.0) -> LabelLogps:
    """Log-probs (float32) of every label token of `batch` under `model`, differentiable."""
    shift_labels = batch.labels[:, 1:]
    select = shift_labels != IGNORE
    targets = shift_labels[select]
    owners = batch.sequence_ids[:, 1:][select]
    inputs = {"input_ids": batch.input_ids, "position_ids": batch.position_ids,
              "attention_mask": batch.attention_mask, "use_cache": False}
    root = model.__dict__.get(_ROOT)
    if root is not None:  # sharded: the FSDP2 root module must run the forward
        return LabelLogps(root(inputs, select, targets, float(temperature)), owners)
    return LabelLogps(_values(model, inputs, select, targets, float(temperature)), owners)


def _values(model, inputs: dict, select: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    backbone, head = _backbone_and_head(model)
    if backbone is None:
        logits = model(**inputs).logits[:, :-1][select].float() / temperature
        return torch.log_softmax(logits, dim=-1).gather(1, targets.unsqueeze(1)).squeeze(1)
    hidden = backbone(**inputs).last_hidden_state[:, :-1][select]
    with torch.autocast(device_type=hidden.device.type, enabled=False):
        bias = head.bias.float() if getattr(head, "bias", None) is not None else None
        return _ChunkedLabelLogProbs.apply(hidden.float(), head.weight.float(), bias, targets, temperature)


_ROOT = "_warmstart_sharded_root"


class LabelLogpsRoot(torch.nn.Module):
    """The whole causal LM behind one forward that returns label log-probs: FSDP2 shards it as
    the root, so the embedding, final norm and LM head are gathered for that forward and their
    gradients reduced after backward (calling the backbone directly would bypass both)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs: dict, select: torch.Tensor, targets: torch.Tensor, temperature: float):
        return _values(self.model, inputs, select, targets, temperature)


def attach_sharded_root(model) -> LabelLogpsRoot:
    """A root module over `model` that `label_logps` will call from now on (kept outside the
    model's registered submodules, so its state dict is unchanged)."""
    root = LabelLogpsRoot(model)
    model.__dict__[_ROOT] = root
    return root
