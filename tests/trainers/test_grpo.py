"""GRPO recipe pieces: curriculum order, verifier rewards, zero-variance filtering, length reward."""

import json

import pyarrow as pa
import torch

from tiny_models import rl_rows, tiny_llama
from trainers.config import load_config
from trainers.data import check_rows
from trainers.prompt_chats import attach_chats
from trainers.grpo import GRPORecipe
from trainers.rollout import Completion


class ScriptedSampler:
    """Returns fixed completion texts, G per prompt, in order."""

    def __init__(self, tokenizer, texts):
        self.tokenizer, self.texts = tokenizer, texts

    def generate(self, model, prompts, n, *, greedy=False):
        assert len(prompts) * n == len(self.texts)
        return [Completion(self.tokenizer.encode(t) + [self.tokenizer.eos_token_id], t, False) for t in self.texts]


def recipe(tokenizer, rows, texts, **options):
    cfg = load_config("grpo", None, {"split": "rl", "num_generations": 2, "batch_size": 2, **options})
    checked = check_rows(pa.Table.from_pylist(rows), "rl", "test")
    attach_chats(checked, None, "prompt_id")
    grpo = GRPORecipe(checked, tokenizer, cfg)
    grpo.setup(tiny_llama(tokenizer), torch.device("cpu"), False, sampler=ScriptedSampler(tokenizer, texts))
    return grpo


def test_curriculum_orders_easy_to_hard_and_shuffles_within_a_stage(digit_tokenizer):
    rows = rl_rows(9, stages=True)
    grpo = recipe(digit_tokenizer, rows, [])
    order = grpo.order(epoch=0)
    stages = [rows[i]["curriculum_stage"] for i in order]
    assert stages == sorted(stages) and sorted(order) == list(range(9))
    assert grpo.order(epoch=1) != order  # reshuffled within stages each epoch
    flat = recipe(digit_tokenizer, rows, [], curriculum=False).order(epoch=0)
    assert [rows[i]["curriculum_stage"] for i in flat] != sorted(stages)


def test_rewards_come_from_the_verifier_and_flat_groups_are_dropped(digit_tokenizer):
    rows = rl_rows(2, answer="7", verifier="exact")
    rows[1]["metadata"] = json.dumps({"unused": 1})
    grpo = recipe(digit_tokenizer, rows, ["7", "3", "3", "3"])  # group 1 mixed, group 2 all wrong
    updates, metrics = grpo.prepare(tiny_llama(digit_tokenizer), [[0, 1]])
    assert metrics["reward"] == 0.25 and metrics["pass_rate"] == 0.25
    assert metrics["frac_reward_zero_std"] == 0.5 and metrics["groups_kept"] == 1.0
    batch = updates[0][0]
    assert batch.n_sequences == 2  # only the mixed group trains
    advantages = batch.extra["advantages"]
    assert advantages[0] > 0 > advantages[1]


def test_length_reward_prefers_the_shorter_correct_answer(digit_tokenizer):
    rows = rl_rows(1, answer="7", verifier="exact")
    # the longer answer ends on a bare "7" line (a run of numbers "1 2 3 4 7" is no longer read as its last)
    grpo = recipe(digit_tokenizer, rows, ["7", "1 2 3 4\n7"], length_penalty=0.5, filter_zero_variance=True)
    updates, metrics = grpo.prepare(tiny_llama(digit_tokenizer), [[0]])
    assert metrics["reward"] == 1.0  # both correct: without the length reward this group would be dropped
    advantages = updates[0][0].extra["advantages"]
    assert advantages[0] > 0 > advantages[1]
    assert torch.isclose(advantages.sum(), torch.tensor(0.0), atol=1e-5)
