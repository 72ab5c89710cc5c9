"""Tokenize split rows with the chat template and collate them into padding-free packed batches.

A `Sequence` is token ids plus labels (-100 where no loss). A micro-batch of sequences is
bin-packed into rows with position ids restarting at 0 per sequence, so short examples waste no
compute on padding; transformers turns the position resets into a block-diagonal attention
mask (or varlen flash-attention on GPU). Rows of a few hundred tokens keep the attention cost
of that mask small; with varlen kernels one row is best. `pad` builds the classic padded batch.

>>> batch = pack([Sequence([5, 6, 7], [-100, 6, 7]), Sequence([8, 9], [8, 9])])
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
    """Model inputs for several sequences; `sequence_ids[r, t]` says which sequence token t of row r
    belongs to (-1 on padding). Labels are never set on padding."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    sequence_ids: torch.Tensor
    n_sequences: int
    n_tokens: int  # real (non-padding) tokens, the unit of tokens/s
    position_ids: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)

    def to(self, device: torch.device) -> "Batch":
        move = lambda t: t.to(device, non_blocking=True) if isinstance(t, torch.Tensor) else t  # noqa: E731
        return Batch(move(self.input_ids), move(self.labels), move(self.sequence_ids), self.n_sequences,
                     self.n_tokens, move(self.position_ids), move(self.attention_mask),
                     {k: move(v) for k, v in self.extra.items()})


def pack_rows(lengths: list[int], row_tokens: int) -> list[list[int]]:
    """First-fit-decreasing bins of sequence indices; a row holds max(row_tokens, longest) tokens.

    row_tokens <= 0 puts everything in one row (best with varlen flash-attention kernels).
    """
    if row_tokens <= 0:
        return [list(range(len(lengths)))]
    capacity = max(row_tokens, max(lengths))
    rows, room = [], []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        slot = next((r for r, free in enumerate(room) if free >= lengths[index]), None)
        if slot is None:
            rows.append([])
            room.append(capacity)
            slot = len(rows) - 1
        rows[slot].append(index)
        room[slot] -= lengths[index]
    return [sorted(row) for row in rows]


def pack(sequences: list[Sequence], *, row_tokens: int = 0, pad_id: int = 0) -> Batch:
    """Pack sequences into rows; positions restart per sequence and each sequence's first label is
    ignored. Rows are padded with a dummy sequence (own positions, no labels), so no attention mask
    is needed: transformers builds the block-diagonal mask from the position resets."""
    assert sequences, "cannot pack an empty micro-batch"
    lengths = [len(s.input_ids) for s in sequences]
    rows = pack_rows(lengths, row_tokens)
    width = max(sum(lengths[i] for i in row) for row in rows)
    shape = (len(rows), width)
    ids, labels = torch.full(shape, pad_id, dtype=torch.long), torch.full(shape, IGNORE, dtype=torch.long)
    positions, owners = torch.zeros(shape, dtype=torch.long), torch.full(shape, -1, dtype=torch.long)
    for r, row in enumerate(rows):
        start = 0
        for index in row:
            seq, n = sequences[index], lengths[index]
            assert len(seq.input_ids) == len(seq.labels), "input_ids and labels differ in length"
            ids[r, start:start + n] = torch.tensor(seq.input_ids)
            labels[r, start + 1:start + n] = torch.tensor(seq.labels[1:], dtype=torch.long)
            positions[r, start:start + n] = torch.arange(n)
            owners[r, start:start + n] = index
            start += n
        positions[r, start:] = torch.arange(width - start)  # the padding is its own sequence
    return Batch(ids, labels, owners, len(sequences), sum(lengths), position_ids=positions)


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
    return Batch(ids, labels, owners, len(sequences), int(mask.sum()), attention_mask=mask)


def split_by_budget(sizes: list[int], budget: int | None) -> list[list[int]]:
    """Consecutive runs of positions whose sizes sum to at most `budget` (an item larger than the
    budget alone); None keeps one run. Losses are normalised over the whole accumulation window,
    so splitting a micro-batch changes neither the loss nor the gradient."""
    if budget is None or not sizes:
        return [list(range(len(sizes)))] if sizes else []
    runs, current, used = [], [], 0
    for position, size in enumerate(sizes):
        if current and used + size > budget:
            runs.append(current)
            current, used = [], 0
        current.append(position)
        used += size
    return runs + [current]


def collate(sequences: list[Sequence], *, packing: bool, pad_id: int, row_tokens: int = 0) -> Batch:
    """`pack` (into rows of about `row_tokens`) or `pad`, by the trainer's packing option."""
    return pack(sequences, row_tokens=row_tokens, pad_id=pad_id) if packing else pad(sequences, pad_id)


def template_ids(tokenizer, messages: list[dict], *, add_generation_prompt: bool = False) -> list[int]:
    """Token ids of `messages` rendered with the tokenizer's chat template (role and content only:
    stored messages may carry other keys that a template would render)."""
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"tokenizer {tokenizer.name_or_path!r} has no chat template")
    messages = [{"role": m["role"], "content": m["content"]} for m in messages]
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


def encode_preference(tokenizer, chat: list[dict], chosen: str, rejected: str, *, max_length: int) -> dict:
    """prompt_ids / chosen_ids / rejected_ids as TRL's DPOTrainer tokenizes a conversational pair
    whose prompt is `chat` (the curated system message and user turn)."""
    prompt_ids = encode_prompt(tokenizer, chat)
    chosen_full = template_ids(tokenizer, chat + [{"role": "assistant", "content": chosen}])
    rejected_full = template_ids(tokenizer, chat + [{"role": "assistant", "content": rejected}])
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


def encode_prompt(tokenizer, chat: list[dict]) -> list[int]:
    """A prompt chat (system message, user turn) rendered with the generation prompt, ready to sample from."""
    return template_ids(tokenizer, chat, add_generation_prompt=True)


def per_sequence(values: torch.Tensor, sequence_ids: torch.Tensor, n_sequences: int):
    """Flat per-token values to a right-padded [n_sequences, T] tensor (token order kept) and mask."""
    order = torch.argsort(sequence_ids, stable=True)  # packed rows may hold sequences out of order
    values, sequence_ids = values[order], sequence_ids[order]
    counts = torch.bincount(sequence_ids, minlength=n_sequences)
    parts = torch.split(values, counts.tolist())
    padded = torch.nn.utils.rnn.pad_sequence(list(parts), batch_first=True)
    width = padded.size(1)
    mask = torch.arange(width, device=values.device).unsqueeze(0) < counts.to(values.device).unsqueeze(1)
    return padded, mask
