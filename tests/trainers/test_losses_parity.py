"""Loss parity with TRL 1.16: the same tiny model and batch give the same SFT, DPO and GRPO loss."""

import copy

import pytest
import torch

from tiny_models import preference_rows, sft_rows, tiny_llama
from trainers.collate import collate, completion_sequence, encode_chat, encode_preference, per_sequence
from trainers.logprobs import label_logps
from trainers.losses import dpo_loss, group_advantages, grpo_loss, sequence_logps, sft_loss

trl = pytest.importorskip("trl")
RTOL = 1e-4


def close(ours: torch.Tensor, theirs: torch.Tensor) -> bool:
    return torch.allclose(ours.float(), theirs.float(), rtol=RTOL, atol=1e-6)


def trl_args(config_cls, tmp_path, **kwargs):
    # fp32 like ours: TRL defaults to bf16 autocast, even on CPU
    return config_cls(output_dir=str(tmp_path), report_to=[], use_cpu=True, save_strategy="no", seed=0,
                      bf16=False, **kwargs)


@pytest.mark.parametrize("packing", [True, False])
def test_sft_loss_matches_trl(tokenizer, tmp_path, packing):
    from datasets import Dataset

    model = tiny_llama(tokenizer).train()
    rows = sft_rows(3)
    trainer = trl.SFTTrainer(model=model, processing_class=tokenizer, train_dataset=Dataset.from_list(
        [{"messages": r["messages"]} for r in rows]), args=trl_args(trl.SFTConfig, tmp_path, max_length=None))
    batch = collate([encode_chat(tokenizer, r["messages"], max_length=512) for r in rows],
                    packing=packing, pad_id=tokenizer.pad_token_id, row_tokens=100)  # two packed rows
    inputs = {"input_ids": batch.input_ids, "labels": batch.labels}
    inputs.update({"position_ids": batch.position_ids} if packing else {"attention_mask": batch.attention_mask})
    theirs = trainer.compute_loss(trainer.model, inputs)
    values = label_logps(trainer.model, batch).values
    ours = sft_loss(values, int((batch.labels[:, 1:] != -100).sum()))
    assert close(ours, theirs)
    ours.backward()
    grad = model.model.layers[0].mlp.up_proj.weight.grad.clone()
    model.zero_grad()
    trainer.compute_loss(trainer.model, inputs).backward()
    assert torch.allclose(grad, model.model.layers[0].mlp.up_proj.weight.grad, rtol=1e-3, atol=1e-7)


@pytest.fixture(scope="module")
def dpo_setup(tokenizer, tmp_path_factory):
    from datasets import Dataset

    rows = preference_rows(3)
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}],
                               "chosen": [{"role": "assistant", "content": r["chosen"]}],
                               "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in rows])
    policy, reference = tiny_llama(tokenizer, seed=0).train(), tiny_llama(tokenizer, seed=1)
    return rows, data, policy, reference, tmp_path_factory.mktemp("trl-dpo")


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo"])
def test_dpo_loss_matches_trl(tokenizer, dpo_setup, loss_type):
    rows, data, policy, reference, out = dpo_setup
    trainer = trl.DPOTrainer(model=copy.deepcopy(policy), ref_model=copy.deepcopy(reference),
                             processing_class=tokenizer, train_dataset=data,
                             args=trl_args(trl.DPOConfig, out, beta=0.1, loss_type=[loss_type]))
    pairs = [encode_preference(tokenizer, [{"role": "user", "content": r["prompt"]}], r["chosen"], r["rejected"], max_length=1024) for r in rows]
    for pair, tokenized in zip(pairs, trainer.train_dataset):  # same tokenization as TRL's
        assert [pair[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")] == \
               [tokenized[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")]
    theirs = trainer._compute_loss(trainer.model, trainer.data_collator(list(trainer.train_dataset)), False)

    sides = [completion_sequence(p["prompt_ids"], p["chosen_ids"]) for p in pairs]
    sides += [completion_sequence(p["prompt_ids"], p["rejected_ids"]) for p in pairs]
    batch = collate(sides, packing=True, pad_id=tokenizer.pad_token_id)

    def side_logps(model):
        logps = label_logps(model, batch)
        totals = sequence_logps(logps.values, logps.sequence_ids, len(sides))
        return totals, torch.bincount(logps.sequence_ids, minlength=len(sides)).float()

    totals, lengths = side_logps(policy)
    with torch.no_grad():
        ref_totals, _ = side_logps(reference)
    n = len(pairs)
    losses, chosen_rewards, rejected_rewards = dpo_loss(
        totals[:n], totals[n:], ref_totals[:n], ref_totals[n:], beta=0.1, loss_type=loss_type,
        chosen_lengths=lengths[:n], rejected_lengths=lengths[n:])
    assert close(losses.mean(), theirs)
    assert close((chosen_rewards > rejected_rewards).float().mean(),
                 torch.tensor(trainer._metrics["train"]["rewards/accuracies"][-1]))


def left_pad(rows, pad_id):
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


def right_pad(rows, pad_id):
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [pad_id] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return ids, mask


@pytest.fixture(scope="module")
def grpo_batch(tokenizer):
    """4 prompts x 2 samples of different lengths, with rewards, old and reference log-probs."""
    torch.manual_seed(3)
    prompts = [tokenizer.encode(t) for t in ["Add 2 and 2.", "Name a colour please", "Hi", "Count to three now"]]
    prompts = [p for p in prompts for _ in range(2)]
    completions = [torch.randint(10, 400, (n,)).tolist() + [tokenizer.eos_token_id] for n in (3, 6, 2, 5, 7, 1, 4, 4)]
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 1.0, 0.2])
    return prompts, completions, rewards


@pytest.mark.parametrize("loss_type,beta", [("dapo", 0.0), ("grpo", 0.04), ("bnpo", 0.0), ("dr_grpo", 0.04)])
def test_grpo_loss_matches_trl(tokenizer, tiny_model_dir, tmp_path, grpo_batch, loss_type, beta):
    from datasets import Dataset
    from trl.trainer.utils import nanstd

    prompts, completions, rewards = grpo_batch
    config = trl_args(trl.GRPOConfig, tmp_path, num_generations=2, per_device_train_batch_size=8, beta=beta,
                      loss_type=loss_type, epsilon=0.2, max_completion_length=8, temperature=0.7)
    trainer = trl.GRPOTrainer(model=str(tiny_model_dir), reward_funcs=[lambda completions, **_: [0.0] * len(completions)],
                              args=config, processing_class=tokenizer,
                              train_dataset=Dataset.from_list([{"prompt": "x"}] * 8))
    model = trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1

    grouped = rewards.view(-1, 2)
    trl_advantages = ((grouped - grouped.mean(1, keepdim=True)) / (nanstd(grouped, dim=1, keepdim=True) + 1e-4)).view(-1)
    advantages = group_advantages(rewards, 2)
    assert close(advantages, trl_advantages)

    batch = collate([completion_sequence(p, c) for p, c in zip(prompts, completions)], packing=True,
                    pad_id=tokenizer.pad_token_id, row_tokens=24)  # several rows, sequences out of order
    logps = label_logps(model, batch, temperature=0.7)
    padded, mask = per_sequence(logps.values, logps.sequence_ids, len(prompts))
    torch.manual_seed(0)
    old = padded.detach() + 0.3 * torch.randn_like(padded)  # off-policy, so clipping matters
    ref = padded.detach() - 0.2 * torch.randn_like(padded)
    ours, _ = grpo_loss(padded, old, advantages, mask, beta=beta, ref_logps=ref, loss_type=loss_type,
                        num_items=mask.sum(), max_completion_length=8)

    prompt_ids, prompt_mask = left_pad(prompts, tokenizer.pad_token_id)
    completion_ids, completion_mask = right_pad(completions, tokenizer.pad_token_id)
    inputs = {"prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "completion_ids": completion_ids,
              "completion_mask": completion_mask, "advantages": advantages, "old_per_token_logps": old,
              "ref_per_token_logps": ref, "num_items_in_batch": completion_mask.sum().float()}
    theirs = trainer._compute_loss(model, inputs)
    assert close(ours, theirs)
