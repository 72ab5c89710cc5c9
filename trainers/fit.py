"""`fit`: the one step loop every recipe shares: AdamW, warm-up + decay, accumulation, clipping,
bf16 autocast, evaluation, checkpoints, resume, progress bar and metrics.

The recipe (trainers/recipe.py) supplies `order(epoch)` (example indices for an epoch),
`prepare(model, micro_batches)` (collate or roll out; returns a list of optimizer updates, each a
list of micro-batches, plus window metrics), `loss(model, batch)` (loss already scaled for the
accumulation window, plus metrics) and `evaluate(model)`.
"""

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from schemas.errors import ConfigError
from trainers.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from trainers.config import TrainConfig
from trainers.recipe import Recipe, autocast

MetricsCallback = Callable[[int, dict[str, float]], None]


@dataclass
class FitResult:
    """What a finished fit reports."""

    steps: int
    start_step: int
    seconds: float
    tokens: int
    last_metrics: dict[str, float]

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


class StepPlan:
    """Which example indices each step trains on; steps past an epoch continue in the next one."""

    def __init__(self, recipe: Recipe, cfg: TrainConfig):
        self.recipe, self.per_micro, self.grad_accum = recipe, cfg.batch_size, cfg.grad_accum
        per_step = cfg.batch_size * cfg.grad_accum
        self.steps_per_epoch = max(1, math.ceil(recipe.n_examples / per_step))
        self.total_steps = cfg.max_steps or cfg.epochs * self.steps_per_epoch
        self._epoch, self._order = None, []

    def micro_batches(self, step: int) -> list[list[int]]:
        epoch, offset = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch, self._order = epoch, self.recipe.order(epoch)
        per_step = self.per_micro * self.grad_accum
        chunk = self._order[offset * per_step:(offset + 1) * per_step]
        return [chunk[i:i + self.per_micro] for i in range(0, len(chunk), self.per_micro)]


def lr_factor(update: int, total: int, warmup: int, schedule: str, floor: float) -> float:
    """Multiplier of the peak learning rate at optimizer update `update` (0-based)."""
    if update < warmup:
        return (update + 1) / (warmup + 1)
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (update - warmup) / max(1, total - warmup))
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if schedule == "cosine" else 1 - progress
    return floor + (1 - floor) * shape


def build_optimizer(model, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on norms and biases); the fused kernel (CPU and
    CUDA) avoids the foreach path's temporary copy of every parameter."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    fused = len({p.device.type for p in params}) == 1 and params[0].device.type in ("cpu", "cuda")
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.learning_rate,
                             betas=tuple(cfg.adam_betas), eps=1e-8, fused=fused or None)


def fit(model, tokenizer, recipe: Recipe, cfg: TrainConfig, *, device: torch.device, bf16: bool,
        out_dir: Path, meta: dict, on_metrics: MetricsCallback | None = None) -> FitResult:
    """Train `model` in place with `recipe` for the planned steps; resume when cfg.resume."""
    plan = StepPlan(recipe, cfg)
    optimizer = build_optimizer(model, cfg)
    total_updates = plan.total_steps * recipe.updates_per_step
    warmup = max(cfg.warmup_steps, math.ceil(cfg.warmup_ratio * total_updates))
    schedule = lambda update: lr_factor(update, total_updates, warmup, cfg.lr_schedule, cfg.min_lr_ratio)  # noqa: E731
    start = _resume(out_dir, model, optimizer, meta) if cfg.resume else 0
    emit = on_metrics or (lambda step, metrics: None)
    bar = _progress(cfg.progress, plan.total_steps, start)
    tokens, started, last = 0, time.perf_counter(), {}
    for step in range(start, plan.total_steps):
        tic = time.perf_counter()
        model.train()
        updates, metrics = recipe.prepare(model, plan.micro_batches(step))
        first_update = step * recipe.updates_per_step
        step_tokens = _apply_updates(model, optimizer, recipe, updates, first_update, schedule, cfg, device,
                                     bf16, metrics)
        tokens += step_tokens
        metrics["tokens"] = float(step_tokens)
        metrics["tokens_per_s"] = step_tokens / max(time.perf_counter() - tic, 1e-9)
        last, done = metrics, step + 1
        if done % cfg.log_interval == 0 or done == plan.total_steps:
            emit(done, metrics)
        if cfg.eval_interval and done % cfg.eval_interval == 0 and done < plan.total_steps:
            eval_metrics = _evaluate(model, recipe, device, bf16)
            if eval_metrics:
                emit(done, eval_metrics)
        if cfg.save_interval and done % cfg.save_interval == 0 and done < plan.total_steps:
            save_checkpoint(out_dir, done, model, tokenizer, optimizer, meta=meta, keep=cfg.save_total_limit)
        _advance(bar, metrics, tokens / max(time.perf_counter() - started, 1e-9))
    if bar is not None:
        bar.close()
    eval_metrics = _evaluate(model, recipe, device, bf16)
    if eval_metrics:
        emit(plan.total_steps, eval_metrics)
    return FitResult(plan.total_steps, start, time.perf_counter() - started, tokens, {**last, **eval_metrics})


def _apply_updates(model, optimizer, recipe: Recipe, updates: list[list], first_update: int, schedule,
                   cfg: TrainConfig, device, bf16: bool, metrics: dict) -> int:
    """One optimizer step per update (each a list of micro-batches); fills `metrics`; returns tokens."""
    tokens, losses = 0, []
    for index, micro_batches in enumerate(updates):
        lr = cfg.learning_rate * schedule(first_update + index)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, update_metrics, n = _accumulate(model, recipe, micro_batches, device, bf16)
        metrics.update(update_metrics)
        losses.append(loss)
        tokens += n
        metrics["grad_norm"] = _clip(model, cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        metrics["lr"] = lr
    if losses:
        metrics["loss"] = sum(losses) / len(losses)
    return tokens


def _accumulate(model, recipe: Recipe, micro_batches: list, device, bf16: bool):
    """Forward and backward every micro-batch of one update; losses are pre-scaled by the recipe."""
    total, sums, tokens = 0.0, {}, 0
    for batch in micro_batches:
        batch = batch.to(device)
        with autocast(device, bf16):
            loss, metrics = recipe.loss(model, batch)
        loss.backward()
        total += float(loss.detach())
        tokens += batch.n_tokens
        for name, value in metrics.items():
            sums[name] = sums.get(name, 0.0) + float(value)
    return total, {k: v / max(1, len(micro_batches)) for k, v in sums.items()}, tokens


def _clip(model, max_norm: float) -> float:
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    if max_norm > 0:
        return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))


def _evaluate(model, recipe: Recipe, device, bf16: bool) -> dict[str, float]:
    """The recipe's eval metrics (empty when it has no eval rows)."""
    model.eval()
    with torch.no_grad(), autocast(device, bf16):
        metrics = recipe.evaluate(model)
    model.train()
    return metrics


def _resume(out_dir: Path, model, optimizer, meta: dict) -> int:
    found = list_checkpoints(out_dir)
    if not found:
        return 0
    state = load_checkpoint(found[-1], model, optimizer)
    before = state.get("meta", {})
    for key in ("trainer", "split", "split_version", "model"):
        if key in before and before[key] != meta.get(key):
            raise ConfigError(f"cannot resume from {found[-1]}: it trained with {key}={before[key]!r}, "
                              f"this run has {meta.get(key)!r}")
    meta["resumed_from"] = str(found[-1])
    return int(state["step"])


def _progress(enabled: bool, total: int, start: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)


def _advance(bar, metrics: dict, tokens_per_s: float) -> None:
    if bar is None:
        return
    shown = {"loss": f"{metrics['loss']:.4f}"} if "loss" in metrics else {}
    for name in ("reward", "rewards/accuracies"):
        if name in metrics:
            shown[name.split("/")[-1]] = f"{metrics[name]:.3f}"
    shown["tok/s"] = f"{tokens_per_s:,.0f}"
    bar.set_postfix(shown, refresh=False)
    bar.update(1)
