"""GRPO recipe pieces: curriculum order, verifier rewards, zero-variance filtering, length reward."""

import json

import pyarrow as pa
import torch

from tiny_models import rl_rows, tiny_llama
from trainers.config import load_config
from trainers.data import check_rows
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


def staged_rows():
    """Stage 1: four easy prompts (0.9) and two hard ones (0.05); stage 2: four prompts. The curated
    schedule replays two stage-1 prompts in stage 2 (whichever it drew: the count is what matters)."""
    rows = rl_rows(10, answer="7", verifier="exact")
    rates = [0.9] * 4 + [0.05] * 2 + [0.5] * 4
    for i, row in enumerate(rows):
        row.update(curriculum_stage=1 if i < 6 else 2, pass_rate=rates[i], replay_stages=[2] if i in (0, 4) else [])
    return rows


def epoch_prompts(grpo, epoch=0) -> list[int]:
    """The prompt index of every slot of an epoch, resolved without rollouts."""
    return [grpo.prompt_index(slot) for slot in grpo.order(epoch)]


def test_retrospective_sampling_replays_hard_prompts_in_later_stages(digit_tokenizer):
    """On: stage 2 trains its 4 prompts plus 2 replays of stage 1, drawn by difficulty (1/pass rate:
    20 for the hard ones vs 1.1), so the two hard prompts come back far more often than uniform (2/6).
    Off: every prompt once, stage by stage."""
    rows = staged_rows()
    off = recipe(digit_tokenizer, rows, [], retrospective=False)
    assert off.n_examples == 10 and sorted(off.order(0)) == list(range(10))
    hard_replays = 0
    for seed in range(20):
        on = recipe(digit_tokenizer, rows, [], retrospective=True, seed=seed)
        prompts = epoch_prompts(on)
        assert (on.n_examples, on.n_rows) == (12, 10) and sorted(prompts[:6]) == list(range(6))  # stage 1 first
        stage2 = prompts[6:]
        replays = [i for i in stage2 if i < 6]
        assert len(replays) == 2 and sorted(i for i in stage2 if i >= 6) == [6, 7, 8, 9]
        hard_replays += sum(i in (4, 5) for i in replays)
    assert hard_replays > 0.75 * 40  # uniform would give a third


def test_replays_follow_the_pass_rates_the_rollouts_measure(digit_tokenizer):
    """Prompts that stayed hard come back; a prompt the policy now always solves does not. Stage 1's
    rollouts: prompt 0 (easy at curation) fails every time, hard prompt 4 is solved, the rest solved
    except hard prompt 5 (half): stage 2 must replay 0 and 5, never 4."""
    rows = staged_rows()
    grpo = recipe(digit_tokenizer, rows, ["3", "3"] + ["7", "7"] * 4 + ["7", "3"], retrospective=True)
    by_prompt = sorted(grpo.order(0)[:6], key=grpo.prompt_index)  # the scripted texts follow prompts 0..5
    grpo.prepare(tiny_llama(digit_tokenizer), [by_prompt])
    stage2 = [grpo.prompt_index(slot) for slot in grpo.order(0)[6:]]
    assert sorted(i for i in stage2 if i < 6) == [0, 5]
