"""`fit`: the one step loop every recipe shares: AdamW, warm-up + decay, accumulation, clipping,
bf16 autocast, evaluation, checkpoints, resume, progress bar and metrics.

The recipe (trainers/recipe.py) supplies `order(epoch)` (example indices for an epoch),
`prepare(model, micro_batches)` (collate or roll out; returns a list of optimizer updates, each a
list of micro-batches, plus window metrics), `loss(model, batch)` (loss already scaled for the
accumulation window, plus metrics) and `evaluate(model)`.
"""

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from schemas import terminal
from schemas.errors import ConfigError, DeviceError
from trainers.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from trainers.collate import split_by_budget
from trainers.config import TrainConfig
from trainers.flops import ModelFlops, peak_flops, squared_lengths
from trainers.memory import MemoryPlan, escalate, is_oom, set_checkpointing
from trainers.optim import build_optimizer
from trainers.parallel import ONE_PROCESS, Parallel
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
    memory: MemoryPlan | None = None

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


class StepPlan:
    """Which example indices each step trains on; steps past an epoch continue in the next one.
    A token budget splits each micro-batch between examples; on several ranks each takes its share."""

    def __init__(self, recipe: Recipe, cfg: TrainConfig, parallel: Parallel = ONE_PROCESS):
        self.recipe, self.per_micro, self.grad_accum = recipe, cfg.batch_size, cfg.grad_accum
        self.parallel = parallel
        per_step = cfg.batch_size * cfg.grad_accum
        self.steps_per_epoch = max(1, math.ceil(recipe.n_examples / per_step))
        self.total_steps = cfg.max_steps or cfg.epochs * self.steps_per_epoch
        self._epoch, self._order = None, []

    def global_micro_batches(self, step: int) -> list[list[int]]:
        """The step's micro-batches over all ranks, before any split."""
        epoch, offset = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch, self._order = epoch, self.recipe.order(epoch)
        per_step = self.per_micro * self.grad_accum
        chunk = self._order[offset * per_step:(offset + 1) * per_step]
        return [chunk[i:i + self.per_micro] for i in range(0, len(chunk), self.per_micro)]

    def micro_batches(self, step: int, budget: int | None = None) -> list[list[int]]:
        """This rank's micro-batches; with `budget`, none holds more tokens (per rank)."""
        pieces = self.global_micro_batches(step)
        if budget is not None and self.recipe.splits_examples:
            pieces = [[micro[i] for i in run] for micro in pieces for run in split_by_budget(
                [self.recipe.example_tokens(i) for i in micro], budget * self.parallel.world)]
        return [self.parallel.shard(piece) for piece in pieces]

    def largest_tokens(self) -> int:
        """Tokens of the largest micro-batch of the first epoch (per rank), for the memory plan."""
        steps = range(min(self.steps_per_epoch, self.total_steps))
        sizes = [sum(self.recipe.example_tokens(i) for i in micro) for step in steps
                 for micro in self.global_micro_batches(step)]
        return math.ceil(max(sizes) / self.parallel.world)


def lr_factor(update: int, total: int, warmup: int, schedule: str, floor: float) -> float:
    """Multiplier of the peak learning rate at optimizer update `update` (0-based)."""
    if update < warmup:
        return (update + 1) / (warmup + 1)
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (update - warmup) / max(1, total - warmup))
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if schedule == "cosine" else 1 - progress
    return floor + (1 - floor) * shape


@dataclass
class StepRun:
    """What one step needs besides the model: the run's fixed pieces and its memory plan."""

    recipe: Recipe
    cfg: TrainConfig
    plan: StepPlan
    optimizer: torch.optim.Optimizer
    schedule: Callable[[int], float]
    device: torch.device
    bf16: bool
    parallel: Parallel
    memory: MemoryPlan
    flops: ModelFlops
    peak: float | None  # dense bf16 FLOP/s of the device (None: no MFU)

    def micro_batches(self, step: int) -> list[list[int]]:
        """The step's micro-batches under the memory plan's token budget (which the recipe also
        applies when it splits rollouts)."""
        self.recipe.token_budget = self.memory.max_tokens_per_batch
        return self.plan.micro_batches(step, self.memory.max_tokens_per_batch)


def fit(model, tokenizer, recipe: Recipe, cfg: TrainConfig, *, device: torch.device, bf16: bool,
        out_dir: Path, meta: dict, memory: MemoryPlan, on_metrics: MetricsCallback | None = None,
        parallel: Parallel = ONE_PROCESS) -> FitResult:
    """Train `model` in place with `recipe` for the planned steps; resume when cfg.resume."""
    plan = StepPlan(recipe, cfg, parallel)
    optimizer = build_optimizer(model, cfg)
    total_updates = plan.total_steps * recipe.updates_per_step
    warmup = max(cfg.warmup_steps, math.ceil(cfg.warmup_ratio * total_updates))
    schedule = lambda update: lr_factor(update, total_updates, warmup, cfg.lr_schedule, cfg.min_lr_ratio)  # noqa: E731
    peak = peak_flops(device) if bf16 or cfg.weights == "bf16" else None
    run = StepRun(recipe, cfg, plan, optimizer, schedule, device, bf16, parallel, memory, ModelFlops.of(model), peak)
    start = _resume(out_dir, model, optimizer, meta, parallel) if cfg.resume else 0
    emit = on_metrics if on_metrics and parallel.main else (lambda step, metrics: None)
    bar = _progress(cfg.progress and parallel.main, plan.total_steps, start)
    tokens, started, last = 0, time.perf_counter(), {}
    for step in range(start, plan.total_steps):
        metrics = _step(model, run, step)
        tokens += int(metrics["tokens"])
        last, done = metrics, step + 1
        if done % cfg.log_interval == 0 or done == plan.total_steps:
            emit(done, metrics)
        if cfg.eval_interval and done % cfg.eval_interval == 0 and done < plan.total_steps:
            eval_metrics = _evaluate(model, recipe, device, bf16)
            if eval_metrics:
                emit(done, eval_metrics)
        if cfg.save_interval and done % cfg.save_interval == 0 and done < plan.total_steps:
            save_checkpoint(out_dir, done, model, tokenizer, optimizer, meta=meta, keep=cfg.save_total_limit,
                            parallel=parallel)
        _advance(bar, metrics, tokens / max(time.perf_counter() - started, 1e-9))
    if bar is not None:
        bar.close()
    eval_metrics = _evaluate(model, recipe, device, bf16)
    if eval_metrics:
        emit(plan.total_steps, eval_metrics)
    return FitResult(plan.total_steps, start, time.perf_counter() - started, tokens, {**last, **eval_metrics},
                     run.memory)


def _step(model, run: StepRun, step: int) -> dict[str, float]:
    """Prepare (collate or roll out) and train one step; its metrics, summed or averaged over ranks."""
    tic = time.perf_counter()
    model.train()
    try:
        updates, metrics = run.recipe.prepare(model, run.micro_batches(step))
    except Exception as exc:
        if is_oom(exc):
            raise DeviceError(f"out of memory on {run.device} in {run.recipe.prepare_phase} at step {step + 1}: "
                              f"lower --batch-size ({run.cfg.batch_size})") from None
        raise
    _synchronize(run.device)
    prepared = time.perf_counter()
    step_tokens, model_flops = _apply_updates(model, run, updates, step, metrics)
    _synchronize(run.device)
    done = time.perf_counter()
    metrics.update({"tokens": float(step_tokens), "model_flops": model_flops,
                    f"time/{run.recipe.prepare_phase}": prepared - tic, "time/update": done - prepared})
    metrics = run.parallel.reduce_metrics(metrics, summed=("loss", "tokens", "model_flops"))
    metrics["tokens_per_s"] = metrics["tokens"] / max(done - tic, 1e-9)
    if run.peak:  # per device: the world's model FLOPs over the world's peak
        world_peak = run.peak * run.parallel.world
        metrics["mfu"] = metrics["model_flops"] / (max(done - tic, 1e-9) * world_peak)
        metrics["mfu/update"] = metrics["model_flops"] / (max(done - prepared, 1e-9) * world_peak)
    return metrics


def _apply_updates(model, run: StepRun, updates: list[list], step: int, metrics: dict) -> tuple[int, float]:
    """One optimizer step per update (each a list of micro-batches); fills `metrics`; returns the
    tokens and model FLOPs trained. Out of memory: re-plan (memory.escalate) and redo the update."""
    tokens, model_flops, losses, index = 0, 0.0, [], 0
    first_update = step * run.recipe.updates_per_step
    while index < len(updates):
        lr = run.cfg.learning_rate * run.schedule(first_update + index)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        try:
            loss, update_metrics, n, f = _accumulate(model, run, updates[index])
        except Exception as exc:
            if not is_oom(exc):
                raise
            updates = _replan(model, run, updates[index], step)
            continue
        metrics.update(update_metrics)
        losses.append(loss)
        tokens, model_flops = tokens + n, model_flops + f
        run.parallel.sync_gradients(model)
        metrics["grad_norm"] = _clip(model, run.cfg.max_grad_norm)
        run.optimizer.step()
        run.optimizer.zero_grad(set_to_none=True)
        metrics["lr"] = lr
        index += 1
    if losses:
        metrics["loss"] = sum(losses) / len(losses)
    return tokens, model_flops


def _replan(model, run: StepRun, failed: list, step: int) -> list[list]:
    """After an out-of-memory update: free it, choose the next memory plan, re-batch the step."""
    run.optimizer.zero_grad(set_to_none=True)
    if run.device.type == "cuda":
        torch.cuda.empty_cache()
    tokens = max(batch.n_tokens for batch in failed)
    if run.parallel.distributed:  # ranks cannot change plans apart: say what to set instead
        run.memory = replace(run.memory, auto_checkpointing=False, auto_budget=False)
    run.memory = escalate(run.memory, tokens, run.recipe.unit_tokens(), run.device)
    set_checkpointing(model, run.memory.gradient_checkpointing)
    updates, _ = run.recipe.rebatch(model, run.micro_batches(step))
    return updates


def _accumulate(model, run: StepRun, micro_batches: list):
    """Forward and backward every micro-batch of one update; losses are pre-scaled by the recipe.
    Returns the loss, mean metrics, tokens and model FLOPs."""
    total, sums, tokens, model_flops = 0.0, {}, 0, 0.0
    for batch in micro_batches:
        model_flops += run.flops.batch_flops(batch.n_tokens, squared_lengths(batch.sequence_ids))
        batch = batch.to(run.device)
        with autocast(run.device, run.bf16):
            loss, metrics = run.recipe.loss(model, batch)
        (loss * run.parallel.loss_scale).backward()
        total += float(loss.detach())
        tokens += batch.n_tokens
        for name, value in metrics.items():
            sums[name] = sums.get(name, 0.0) + float(value)
    return total, {k: v / max(1, len(micro_batches)) for k, v in sums.items()}, tokens, model_flops


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _clip(model, max_norm: float) -> float:
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    if max_norm > 0:
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    else:
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)


def _evaluate(model, recipe: Recipe, device, bf16: bool) -> dict[str, float]:
    """The recipe's eval metrics (empty when it has no eval rows)."""
    model.eval()
    with torch.no_grad(), autocast(device, bf16):
        metrics = recipe.evaluate(model)
    model.train()
    return metrics


def _resume(out_dir: Path, model, optimizer, meta: dict, parallel: Parallel) -> int:
    found = list_checkpoints(out_dir)
    if not found:
        return 0
    state = load_checkpoint(found[-1], model, optimizer, parallel=parallel)
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

    return tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True, file=terminal.stderr())


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
