"""Tokenization, assistant-only labels, packing, and the chunked label log-probs."""

import torch

from tiny_models import tiny_llama
from trainers import logprobs
from trainers.collate import (IGNORE, Sequence, collate, encode_chat, encode_preference, pack, pad,
                              per_sequence)
from trainers.logprobs import label_logps

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"}, {"role": "user", "content": "and 3+3?"},
        {"role": "assistant", "content": "6"}]


def test_labels_cover_exactly_the_assistant_turns(tokenizer):
    seq = encode_chat(tokenizer, CHAT, max_length=512)
    labelled = [t for t in seq.labels if t != IGNORE]
    assert tokenizer.decode(labelled) == "4<|im_end|>\n6<|im_end|>\n"
    everything = encode_chat(tokenizer, CHAT, max_length=512, assistant_only=False)
    assert everything.labels == everything.input_ids
    assert len(encode_chat(tokenizer, CHAT, max_length=10).input_ids) == 10


def test_preference_completions_follow_the_generation_prompt(tokenizer):
    pair = encode_preference(tokenizer, [{"role": "user", "content": "Say hi"}], "hi", "no", max_length=512)
    assert tokenizer.decode(pair["prompt_ids"]).endswith("<|im_start|>assistant\n")
    assert tokenizer.decode(pair["chosen_ids"]) == "hi<|im_end|>\n"
    assert tokenizer.decode(pair["rejected_ids"]) == "no<|im_end|>\n"


def test_pack_restarts_positions_and_pad_masks_padding():
    seqs = [Sequence([5, 6, 7], [IGNORE, 6, 7]), Sequence([8, 9], [8, 9])]
    packed = pack(seqs)
    assert packed.position_ids.tolist() == [[0, 1, 2, 0, 1]]
    assert packed.labels.tolist() == [[IGNORE, 6, 7, IGNORE, 9]]  # no label across the boundary
    assert packed.sequence_ids.tolist() == [[0, 0, 0, 1, 1]] and packed.n_tokens == 5
    rows = pack(seqs + [Sequence([4], [4])], row_tokens=4, pad_id=0)  # first-fit decreasing into 4-token rows
    assert rows.input_ids.tolist() == [[5, 6, 7, 4], [8, 9, 0, 0]]
    assert rows.position_ids.tolist() == [[0, 1, 2, 0], [0, 1, 0, 1]]  # padding is its own sequence
    assert rows.sequence_ids.tolist() == [[0, 0, 0, 2], [1, 1, -1, -1]] and rows.n_tokens == 6
    padded = pad(seqs, pad_id=0)
    assert padded.input_ids.tolist() == [[5, 6, 7], [8, 9, 0]]
    assert padded.attention_mask.tolist() == [[1, 1, 1], [1, 1, 0]] and padded.n_tokens == 5


def test_packed_and_padded_batches_give_the_same_log_probs(tokenizer):
    model = tiny_llama(tokenizer)
    seqs = [encode_chat(tokenizer, CHAT, max_length=512),
            encode_chat(tokenizer, CHAT[:3], max_length=512)]
    seqs.append(encode_chat(tokenizer, CHAT[3:], max_length=512))
    padded = label_logps(model, collate(seqs, packing=False, pad_id=tokenizer.pad_token_id))
    expected, mask = per_sequence(padded.values, padded.sequence_ids, 3)
    assert mask.sum(1).tolist() == [sum(t != IGNORE for t in s.labels[1:]) for s in seqs]
    for row_tokens in (0, 40):  # one row; rows of 40 tokens (sequences out of order, padded rows)
        batch = collate(seqs, packing=True, pad_id=tokenizer.pad_token_id, row_tokens=row_tokens)
        assert (batch.input_ids.size(0) > 1) == (row_tokens > 0)
        packed = label_logps(model, batch)
        values, packed_mask = per_sequence(packed.values, packed.sequence_ids, 3)
        assert torch.equal(packed_mask, mask)
        assert torch.allclose(values[mask], expected[mask], atol=1e-5)


def test_chunked_log_probs_and_gradients_match_the_full_softmax(tokenizer, monkeypatch):
    monkeypatch.setattr(logprobs, "_CHUNK_ELEMENTS", len(tokenizer) * 7)  # several chunks
    model = tiny_llama(tokenizer).train()
    batch = collate([encode_chat(tokenizer, CHAT, max_length=512)], packing=True, pad_id=tokenizer.pad_token_id)
    ours = label_logps(model, batch, temperature=0.8)
    ours.values.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    logits = model(input_ids=batch.input_ids, position_ids=batch.position_ids, use_cache=False).logits
    targets = batch.labels[:, 1:]
    select = targets != IGNORE
    plain = torch.log_softmax(logits[:, :-1][select] / 0.8, -1).gather(1, targets[select][:, None]).squeeze(1)
    plain.sum().backward()
    assert torch.allclose(ours.values, plain, atol=1e-5)
    for ours_grad, param in zip(grads, model.parameters()):
        assert (ours_grad - param.grad).norm() <= 1e-4 * param.grad.norm()
