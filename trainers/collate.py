"""Tokenize split rows with the chat template and collate them into padding-free packed batches.

A `Sequence` is token ids plus labels (-100 where no loss). A micro-batch of sequences becomes
one packed row with position ids restarting at 0 per sequence, so short examples waste no
compute on padding; transformers turns the position resets into a block-diagonal attention
mask (or varlen flash-attention on GPU). `pad` builds the classic padded batch instead.

>>> batch = pack([Sequence([5, 6, 7], [-100, 6, 7]), Sequence([8, 9], [-100, 9])])
>>> batch.position_ids.tolist(), batch.labels.tolist()
([[0, 1, 2, 0, 1]], [[-100, 6, 7, -100, 9]])
"""

from dataclasses import dataclass, field

import torch

from schemas.errors import ModelError

IGNORE = -100


@dataclass
class Sequence:
    """One training sequence: `labels[t]` is the target at position t (IGNORE: no loss)."""

    input_ids: list[int]
    labels: list[int]


@dataclass
class Batch:
    """Model inputs for several sequences; `sequence_ids[0, t]` says which sequence token t is in."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    sequence_ids: torch.Tensor
    n_sequences: int
    position_ids: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)

    @property
    def n_tokens(self) -> int:
        """Real (non-padding) tokens, the unit of tokens/s."""
        if self.attention_mask is not None:
            return int(self.attention_mask.sum())
        return int(self.input_ids.numel())

    def to(self, device: torch.device) -> "Batch":
        move = lambda t: t.to(device, non_blocking=True) if isinstance(t, torch.Tensor) else t  # noqa: E731
        return Batch(move(self.input_ids), move(self.labels), move(self.sequence_ids), self.n_sequences,
                     move(self.position_ids), move(self.attention_mask),
                     {k: move(v) for k, v in self.extra.items()})


def pack(sequences: list[Sequence]) -> Batch:
    """Concatenate sequences into one row; positions restart per sequence, first labels are ignored."""
    assert sequences, "cannot pack an empty micro-batch"
    ids, labels, positions, owners = [], [], [], []
    for index, seq in enumerate(sequences):
        assert len(seq.input_ids) == len(seq.labels), "input_ids and labels differ in length"
        ids += seq.input_ids
        labels += [IGNORE] + seq.labels[1:]  # the first token would be predicted from the previous sequence
        positions += range(len(seq.input_ids))
        owners += [index] * len(seq.input_ids)
    row = lambda values: torch.tensor([values], dtype=torch.long)  # noqa: E731
    return Batch(row(ids), row(labels), row(owners), len(sequences), position_ids=row(positions))


def pad(sequences: list[Sequence], pad_id: int) -> Batch:
    """Right-pad sequences into a [B, T] batch with an attention mask (the non-packed layout)."""
    width = max(len(s.input_ids) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    labels = torch.full_like(ids, IGNORE)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(sequences):
        n = len(seq.input_ids)
        ids[row, :n] = torch.tensor(seq.input_ids)
        labels[row, :n] = torch.tensor(seq.labels)
        mask[row, :n] = 1
    owners = torch.arange(len(sequences)).unsqueeze(1).expand_as(ids).contiguous()
    return Batch(ids, labels, owners, len(sequences), attention_mask=mask)


def collate(sequences: list[Sequence], *, packing: bool, pad_id: int) -> Batch:
    """`pack` or `pad`, by the trainer's packing option."""
    return pack(sequences) if packing else pad(sequences, pad_id)


def template_ids(tokenizer, messages: list[dict], *, add_generation_prompt: bool = False) -> list[int]:
    """Token ids of `messages` rendered with the tokenizer's chat template."""
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"tokenizer {tokenizer.name_or_path!r} has no chat template")
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt,
                                        return_dict=False)
    return list(ids["input_ids"] if isinstance(ids, dict) else ids)


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def encode_chat(tokenizer, messages: list[dict], *, max_length: int, assistant_only: bool = True) -> Sequence:
    """Chat-template a conversation; labels cover only the assistant turns (with their end token).

    Each assistant turn spans from the end of the preceding prefix rendered with a generation
    prompt to the end of the prefix that includes the turn.
    """
    messages = [{"role": m["role"], "content": m["content"]} for m in messages]
    ids = template_ids(tokenizer, messages)
    labels = [IGNORE] * len(ids) if assistant_only else list(ids)
    if assistant_only:
        for turn, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            start = common_prefix(template_ids(tokenizer, messages[:turn], add_generation_prompt=True), ids)
            end = common_prefix(template_ids(tokenizer, messages[:turn + 1]), ids)
            labels[start:end] = ids[start:end]
    return Sequence(ids[:max_length], labels[:max_length])


def encode_preference(tokenizer, prompt: str, chosen: str, rejected: str, *, max_length: int) -> dict:
    """prompt_ids / chosen_ids / rejected_ids as TRL's DPOTrainer tokenizes a conversational pair."""
    user = [{"role": "user", "content": prompt}]
    prompt_ids = template_ids(tokenizer, user, add_generation_prompt=True)
    chosen_full = template_ids(tokenizer, user + [{"role": "assistant", "content": chosen}])
    rejected_full = template_ids(tokenizer, user + [{"role": "assistant", "content": rejected}])
    n_prompt = min(common_prefix(prompt_ids, chosen_full), common_prefix(prompt_ids, rejected_full))
    return {"prompt_ids": prompt_ids[:n_prompt], "chosen_ids": chosen_full[n_prompt:max_length],
            "rejected_ids": rejected_full[n_prompt:max_length]}


def completion_sequence(prompt_ids: list[int], completion_ids: list[int], *, max_length: int | None = None) -> Sequence:
    """prompt + completion with loss on the completion only (DPO sides, GRPO rollouts)."""
    ids = list(prompt_ids) + list(completion_ids)
    labels = [IGNORE] * len(prompt_ids) + list(completion_ids)
    if max_length is not None:
        ids, labels = ids[:max_length], labels[:max_length]
    return Sequence(ids, labels)


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """A user prompt rendered with the generation prompt, ready to sample from."""
    return template_ids(tokenizer, [{"role": "user", "content": prompt}], add_generation_prompt=True)


def per_sequence(values: torch.Tensor, sequence_ids: torch.Tensor, n_sequences: int):
    """Flat per-token values (ordered by sequence) to a right-padded [n_sequences, T] tensor and mask."""
    counts = torch.bincount(sequence_ids, minlength=n_sequences)
    parts = torch.split(values, counts.tolist())
    padded = torch.nn.utils.rnn.pad_sequence(list(parts), batch_first=True)
    width = padded.size(1)
    mask = torch.arange(width, device=values.device).unsqueeze(0) < counts.to(values.device).unsqueeze(1)
    return padded, mask
