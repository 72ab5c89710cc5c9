"""GRPO recipe: sample G completions per prompt, reward them with the curation verifiers,
normalise rewards within each group, and take clipped policy-gradient steps.

Options from the papers: dynamic filtering of zero-variance groups (DAPO), a shorter-is-better
length reward (Kimi k1.5 / fast-math), curriculum order by `curriculum_stage` with
difficulty-aware retrospective sampling of earlier stages' hard prompts (QwenLong-L1,
trainers/retrospective.py), an optional KL to the reference (beta; a frozen copy is kept only
when beta > 0).
"""

import copy
from contextlib import nullcontext
from typing import Literal

import torch
from pydantic import Field

from curation.verifiers import verify
from schemas.errors import SplitError
from trainers.collate import completion_sequence, collate, encode_prompt, per_sequence, split_by_budget
from trainers.config import TrainConfig
from trainers.logprobs import label_logps
from trainers.losses import group_advantages, grpo_loss, length_penalty, zero_variance_groups
from trainers.recipe import Recipe, autocast, epoch_order
from trainers.retrospective import RetrospectivePlan
from trainers.rollout import make_sampler


class GRPOConfig(TrainConfig):
    """Group relative policy optimisation on `rl` splits (prompt, answer, verifier)."""

    learning_rate: float = Field(1e-6, gt=0, le=1, description="peak AdamW learning rate")
    batch_size: int = Field(4, ge=1, le=65536, description="prompts per micro-batch (each sampled G times)")
    num_generations: int = Field(8, ge=2, le=1024, description="G: samples per prompt")
    max_new_tokens: int = Field(256, ge=1, description="longest sampled completion")
    temperature: float = Field(1.0, gt=0, description="sampling temperature (also divides the trained logits)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling")
    epsilon: float = Field(0.2, gt=0, lt=1, description="lower clip of the probability ratio")
    epsilon_high: float | None = Field(None, gt=0, description="upper clip; unset: epsilon")
    beta: float = Field(0.0, ge=0, description="KL to the reference model (0: no reference kept)")
    loss_type: Literal["dapo", "grpo", "bnpo", "dr_grpo"] = Field("dapo", description="token aggregation")
    scale_rewards: Literal["group", "batch", "none"] = Field("group", description="advantage std scaling")
    filter_zero_variance: bool = Field(True, description="drop groups whose samples all got the same reward")
    length_penalty: float = Field(0.0, ge=0, description="weight of the shorter-is-better reward (Kimi k1.5)")
    curriculum: bool = Field(True, description="order prompts by curriculum_stage when the split has it")
    retrospective: bool = Field(
        True, description="with curriculum: each stage also replays earlier stages' prompts, as many as the "
                          "split's replay_stages ask, drawn by the difficulty this run's rollouts measure")
    num_iterations: int = Field(1, ge=1, le=16, description="policy updates per batch of rollouts (μ)")
    rollout_backend: Literal["auto", "transformers", "vllm"] = Field(
        "auto", description="auto: vLLM on CUDA when installed, else transformers generate")
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1, description="vLLM share of accelerator memory")
    vllm_enforce_eager: bool | None = Field(None, description="vLLM eager mode; unset: CUDA graphs on a GPU")


class GRPORecipe(Recipe):
    """One step = rollouts for batch_size x grad_accum prompts, then `num_iterations` updates.
    On several ranks each samples its share of the prompts and keeps a full replica."""

    prepare_phase = "rollout"  # sampling, scoring and the sampling policy's log-probs
    sharding = "ddp"
    splits_examples = False  # completions are split by their real length, in _batches

    def __init__(self, rows: list[dict], tokenizer, cfg: GRPOConfig, eval_rows: list[dict] | None = None):
        super().__init__(rows, tokenizer, cfg, eval_rows)
        encoded = [(row, encode_prompt(tokenizer, row["chat"])) for row in rows]
        kept = [(row, ids) for row, ids in encoded if len(ids) < cfg.max_length]
        if not kept:
            raise SplitError(f"every prompt is longer than max_length={cfg.max_length} tokens")
        self.rows, self.prompts = [r for r, _ in kept], [ids for _, ids in kept]
        self.longest_prompt = max(map(len, self.prompts))
        self.dropped = len(rows) - len(kept)
        self.eval_rows = (eval_rows or [])[:cfg.eval_max_examples]
        self.eval_prompts = [encode_prompt(tokenizer, r["chat"]) for r in self.eval_rows]
        self.plan = RetrospectivePlan.from_rows(self.rows, cfg.seed) \
            if cfg.curriculum and cfg.retrospective else None
        self.n_examples = self.plan.n_slots if self.plan else len(self.rows)
        self.updates_per_step = cfg.num_iterations
        self.sampler, self.ref_model, self._samples = None, None, []

    def example_tokens(self, index: int) -> int:
        """At most G samples of prompt + max_new_tokens (a retrospective slot's row is drawn only
        when its stage starts: the longest prompt bounds it)."""
        prompt = self.longest_prompt if self.plan is not None else len(self.prompts[index])
        return self.cfg.num_generations * (prompt + self.cfg.max_new_tokens)

    def unit_tokens(self) -> int:
        return self.longest_prompt + self.cfg.max_new_tokens

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    def order(self, epoch: int) -> list[int]:
        """A seeded shuffle; with curriculum, stable-sorted by stage (random within a stage); with a
        retrospective plan, its slots (each stage's prompts and replays of earlier ones)."""
        if self.plan is not None:
            return self.plan.order(epoch)
        order = epoch_order(self.n_examples, self.cfg.seed, epoch)
        stages = [row.get("curriculum_stage") for row in self.rows]
        if self.cfg.curriculum and any(s is not None for s in stages):
            last = max(s for s in stages if s is not None) + 1
            order.sort(key=lambda i: last if stages[i] is None else stages[i])
        return order

    def prompt_index(self, slot: int) -> int:
        """The row an order() entry trains (a replay slot's row is drawn when its stage starts)."""
        return self.plan.prompt(slot) if self.plan is not None else slot

    def setup(self, model, device: torch.device, bf16: bool, *, model_path=None, sampler=None, **context) -> None:
        """Start the sampler (`sampler` from the context, else one for cfg.rollout_backend over
        `model_path`); keep a frozen reference only when the KL term is on (beta > 0)."""
        super().setup(model, device, bf16)
        self.sampler = sampler or make_sampler(self.cfg.rollout_backend, model_path=model_path,
                                               tokenizer=self.tokenizer, device=device, cfg=self.cfg, bf16=bf16)
        if self.cfg.beta > 0 and not hasattr(model, "disable_adapter"):
            self.ref_model = copy.deepcopy(model).eval().requires_grad_(False)

    def score(self, rows: list[dict], completions, group: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rewards (verdict scores) and correctness; `group` consecutive completions per row."""
        rewards, correct = [], []
        for index, completion in enumerate(completions):
            row = rows[index // group]
            verdict = verify(row["verifier"], completion.text, row.get("answer"), row["metadata"],
                             question=row["prompt"])
            rewards.append(float(verdict.score))
            correct.append(bool(verdict.correct))
        return torch.tensor(rewards), torch.tensor(correct)

    def prepare(self, model, micro_batches: list[list[int]]):
        cfg, g = self.cfg, self.cfg.num_generations
        indices = [self.prompt_index(slot) for micro in micro_batches for slot in micro]
        completions = self.sampler.generate(model, [self.prompts[i] for i in indices], g)
        rewards, correct = self.score([self.rows[i] for i in indices], completions, g)
        if self.plan is not None:  # what the rollouts measured decides the next stages' replays
            for k, i in enumerate(indices):
                self.plan.observe(i, float(correct[k * g:(k + 1) * g].float().mean()))
        lengths = torch.tensor([len(c.ids) for c in completions])
        shaped = rewards + cfg.length_penalty * length_penalty(lengths, correct, g) if cfg.length_penalty else rewards
        advantages = group_advantages(shaped, g, scale=cfg.scale_rewards)
        flat = zero_variance_groups(shaped, g)
        keep = ~flat if cfg.filter_zero_variance else torch.ones_like(flat)
        metrics = {"reward": float(rewards.mean()), "pass_rate": float(correct.float().mean()),
                   "completion_length": float(lengths.float().mean()),
                   "truncated": sum(c.truncated for c in completions) / len(completions),
                   "frac_reward_zero_std": float(flat.float().mean()), "groups_kept": float(keep.sum())}
        self._samples = [(self.prompts[indices[k // g]], completions[k].ids, float(advantages[k]))
                         for k in range(len(completions)) if keep[k // g]]
        if not self.parallel.sum(len(self._samples)):
            return [], metrics
        return [self._batches(model, self._samples)] * cfg.num_iterations, metrics

    def rebatch(self, model, micro_batches: list[list[int]]):
        """The last rollouts again, split under the current token budget (no new sampling)."""
        return [self._batches(model, self._samples)] * self.cfg.num_iterations, {}

    def _batches(self, model, samples):
        """Micro-batches of batch_size x G samples, each split further under the token budget. A
        split part weighs its share of its micro-batch (samples, or tokens for bnpo), so the loss
        and gradient do not depend on the budget; dapo divides by the window's tokens (all ranks)."""
        per_micro = self.cfg.batch_size * self.cfg.num_generations
        chunks = [samples[i:i + per_micro] for i in range(0, len(samples), per_micro)]
        num_items = int(self.parallel.sum(sum(len(ids) for _, ids, _ in samples)))
        batches = []
        for chunk in chunks:
            chunk_tokens = sum(len(ids) for _, ids, _ in chunk)
            for run in split_by_budget([len(p) + len(c) for p, c, _ in chunk], self.token_budget):
                part = [chunk[i] for i in run]
                share = (sum(len(c) for _, c, _ in part) / max(1, chunk_tokens) if self.cfg.loss_type == "bnpo"
                         else len(part) / len(chunk))
                batches.append(self._batch(model, part, num_items, share / len(chunks)))
        return batches

    def _batch(self, model, part, num_items: int, scale: float):
        batch = collate([completion_sequence(p, c) for p, c, _ in part], packing=True, pad_id=self.pad_id,
                        row_tokens=self.cfg.pack_length)
        batch.extra.update(advantages=torch.tensor([a for _, _, a in part]), num_items=num_items, scale=scale)
        if self.cfg.num_iterations > 1:  # later updates are off-policy: keep the sampling-time log-probs
            batch.extra["old_logps"] = self._frozen_logps(model, batch)
        if self.cfg.beta > 0:
            batch.extra["ref_logps"] = self._frozen_logps(
                model if self.ref_model is None else self.ref_model, batch, reference=True)
        return batch

    def _frozen_logps(self, model, batch, *, reference: bool = False) -> torch.Tensor:
        adapters_off = model.disable_adapter() if reference and hasattr(model, "disable_adapter") else nullcontext()
        with torch.no_grad(), adapters_off, autocast(self.device, self.bf16):
            moved = batch.to(self.device)
            logps = label_logps(model, moved, temperature=self.cfg.temperature)
            padded, _ = per_sequence(logps.values, logps.sequence_ids, batch.n_sequences)
        return padded.cpu()

    def loss(self, model, batch):
        cfg = self.cfg
        logps = label_logps(model, batch, temperature=cfg.temperature)
        padded, mask = per_sequence(logps.values, logps.sequence_ids, batch.n_sequences)
        loss, stats = grpo_loss(
            padded, batch.extra.get("old_logps"), batch.extra["advantages"], mask,
            epsilon_low=cfg.epsilon, epsilon_high=cfg.epsilon_high or cfg.epsilon, beta=cfg.beta,
            ref_logps=batch.extra.get("ref_logps"), loss_type=cfg.loss_type, num_items=batch.extra["num_items"],
            max_completion_length=cfg.max_new_tokens)
        if cfg.loss_type != "dapo":
            loss = loss * batch.extra["scale"]  # per-micro-batch means: averaged over the window
        return loss, {k: float(v) for k, v in stats.items()}

    def evaluate(self, model) -> dict[str, float]:
        """Greedy pass rate and mean reward on the eval prompts."""
        if not self.eval_rows:
            return {}
        completions = self.sampler.generate(model, self.eval_prompts, 1, greedy=True)
        rewards, correct = self.score(self.eval_rows, completions, 1)
        return {"eval/reward": float(rewards.mean()), "eval/pass_rate": float(correct.float().mean())}
