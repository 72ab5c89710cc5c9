"""Every call `make efficacy` makes into warmstart's library, in one place: curate
(flows.curate.run_curation), read the splits and the prompt pool, count tokens as the SFT trainer
renders them, train (flows.training.train_and_record, recorded in the experiment's lake) and
evaluate held out (flows.heldout.evaluate, one engine at a time); and the smoke run's fake policy
and tiny model. A library API change lands here only.
"""

import contextlib
import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
# vLLM's CPU build sizes its KV cache from gpu_memory_utilization x RAM (7 GB here) unless told;
# 1 GiB holds ~45k tokens of the 135M model, and the shared machine has little RAM to spare.
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")  # a busy machine
TRAIN_POOL = "split_guard = 'train' AND source LIKE 'reasoning_gym:%'"


def curate(config: Path, prompts_per_task: int, overrides: dict, lake_dir: Path, *, smoke: bool = False):
    """Run the curate flow once into `lake_dir` (skipped when its catalog exists); (config, Lake,
    whether it ran).
    `smoke`: on the tests' deterministic fake policy instead of a model (seconds, not minutes)."""
    from flows.config import load_config
    from flows.curate import run_curation
    from schemas.lake import Lake

    extra = {"backend": "openai", "model": "fake-policy", "backend_options": {}} if smoke else {}
    items = [f"{k}={json.dumps(v)}" for k, v in {**overrides, **extra}.items()] + [f"lake={lake_dir}"]
    curate_cfg = load_config(ROOT / config, items)
    for source in curate_cfg.sources:
        if source.type == "reasoning_gym":
            source.count = prompts_per_task
    ran = not (lake_dir / "catalog.ducklake").exists()
    if ran:
        with fake_policy(curate_cfg) if smoke else contextlib.nullcontext():
            run_curation(curate_cfg)
    return curate_cfg, Lake(lake_dir), ran


@contextlib.contextmanager
def fake_policy(curate_cfg):
    """Every backend the curate flow loads is the tests' fake policy (benchmarks/methods_measure.py)."""
    import curation.backends
    from benchmarks.methods_measure import quick_policy
    from flows.sources import load_prompts

    answers = {p["prompt"]: p["answer"] for p in load_prompts(curate_cfg.sources).to_pylist()}
    policy, original = quick_policy(answers), curation.backends.load_backend
    curation.backends.load_backend = lambda *args, **kwargs: policy
    try:
        yield policy
    finally:
        curation.backends.load_backend = original


def tiny_model(dest: Path) -> str:
    """A 2-layer random Llama over the bundled model's tokenizer, saved once at `dest` (smoke runs)."""
    if not (dest / "config.json").exists():
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        from curation.models import resolve_model
        from trainers.run import load_tokenizer

        tokenizer = load_tokenizer(resolve_model("smollm2-135m-instruct"))
        config = LlamaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                             hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True)
        torch.manual_seed(0)
        LlamaForCausalLM(config).save_pretrained(dest, safe_serialization=True)
        tokenizer.save_pretrained(dest)
    return str(dest)


def split_rows(lake, kind: str, wanted: str) -> tuple[str, list[dict]]:
    """(name, rows) of the registered split for `kind` (a DMT mix registers <name>_stage1/2: stage 1)."""
    from schemas.split_registry import list_splits, read_split

    names = set(list_splits(lake).column("split_name").to_pylist())
    name = next((c for c in (wanted, f"{wanted}_stage1") if c in names), None)
    if name is None:
        raise SystemExit(f"curation registered no '{wanted}' {kind} split (splits: {sorted(names)})")
    return name, read_split(lake, name).rows.to_pylist()


def prompt_pool(lake, prompt_format) -> list[dict]:
    """Every train prompt of the curated lake (after dedup and decontamination), as RL rows: the
    user text as generated, gold answer, verifier, metadata."""
    rows = lake.read("prompts", where=TRAIN_POOL).to_pylist()
    return [{"prompt_id": r["prompt_id"], "task": r["task"], "prompt": prompt_format.user_text(r["prompt"]),
             "raw_prompt": r["prompt"], "answer": r["answer"], "verifier": r["verifier"],
             "metadata": r["metadata"]} for r in sorted(rows, key=lambda r: r["prompt_id"])]


def conversation_of(prompt_format):
    """prompt text -> the chat the curate flow generated with (system message, user turn)."""
    from curation.generate import conversation

    return lambda text: conversation(text, prompt_format)


def sft_token_counters(sft_options: dict, model: str):
    """(tokens per row, label tokens per row) as the SFT trainer encodes rows of `model` with these options."""
    from trainers.collate import IGNORE
    from trainers.config import load_config
    from trainers.run import load_tokenizer
    from trainers.sft import encode_rows
    from curation.models import resolve_model

    cfg = load_config("sft", None, {**sft_options, "model": model, "progress": False})
    tokenizer = load_tokenizer(resolve_model(cfg.model))

    def tokens(rows: list[dict]) -> list[int]:
        return [len(s.input_ids) for s in encode_rows(rows, tokenizer, cfg)]

    def labels(rows: list[dict]) -> list[int]:
        return [sum(label != IGNORE for label in s.labels[1:]) for s in encode_rows(rows, tokenizer, cfg)]

    return tokens, labels


def write_rows(rows: list[dict], path: Path) -> Path:
    """Rows as a Parquet file the trainers read with `data=` (metadata kept as JSON text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def train(trainer: str, options: dict, *, lake, seed: int, start: str, out: Path, run_id: str,
          split: str | None = None, data: Path | None = None) -> dict:
    """One recorded training run; steps, tokens (all and loss-bearing), seconds, last metrics."""
    from flows.training import train_and_record
    from trainers.config import load_config

    values = {**options, "seed": seed, "model": start, "out": str(out), "split": split,
              "data": str(data) if data else None, "progress": False, "log_interval": 1}
    cfg = load_config(trainer, None, values)
    started = time.perf_counter()
    result, _ = train_and_record(trainer, cfg, lake, run_id=run_id)
    seconds = time.perf_counter() - started
    per_step = _metrics(lake, run_id)
    return {"steps": result.steps, "seconds": round(seconds, 1), "config": cfg.model_dump(mode="json"),
            "tokens": int(sum(m.get("tokens", 0) for m in per_step.values())),
            "label_tokens": int(sum(m.get("label_tokens", 0) for m in per_step.values())),
            "updates": sum(1 for m in per_step.values() if "loss" in m),
            "curve": _curve(per_step), "last": {k: round(v, 4) for k, v in result.metrics.items()}}


def _metrics(lake, run_id: str) -> dict[int, dict[str, float]]:
    table = lake.read("train_metrics", where=f"run_id = '{run_id}'").to_pylist()
    steps: dict[int, dict[str, float]] = {}
    for row in table:
        steps.setdefault(row["step"], {})[row["metric"]] = row["value"]
    return dict(sorted(steps.items()))


CURVE_METRICS = ("pass_rate", "reward", "groups_kept", "completion_length", "loss")


def _curve(per_step: dict[int, dict[str, float]]) -> dict[str, list]:
    """GRPO's training signal per step (rollout pass rate, groups kept, ...): small lists."""
    curve = {name: [round(m[name], 4) if name in m else None for m in per_step.values()]
             for name in CURVE_METRICS if any(name in m for m in per_step.values())}
    return curve if "pass_rate" in curve else {}


def eval_prompts(tasks: list[str], per_task: int) -> pa.Table:
    """The bundled held-out questions (data/eval/<task>.jsonl, first `per_task` each) as prompts."""
    from schemas.ids import canonical_json, content_id

    rows = []
    for task in tasks:
        lines = (ROOT / "data" / "eval" / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()
        for line in lines[:per_task]:
            item = json.loads(line)
            rows.append({"prompt_id": content_id(task, item["question"]), "task": task,
                         "prompt": item["question"], "answer": str(item["answer"]),
                         "verifier": "reasoning_gym", "metadata": canonical_json(item["metadata"])})
    return pa.Table.from_pylist(rows)


def evaluate(model: str, prompts: pa.Table, prompt_format, *, backend: str, temperature: float, max_tokens: int,
             seed: int, backend_options: dict) -> dict:
    """Held-out accuracy of `model` on one engine (closed after): overall and per task."""
    from curation.backends import Sampling, load_backend
    from flows.heldout import evaluate as score_held_out

    started = time.perf_counter()
    engine = load_backend(backend, model, seed=seed, options=backend_options)
    try:
        sampling = Sampling(k=1, temperature=temperature, max_tokens=max_tokens, seed=seed)
        score = score_held_out(engine, prompts, prompt_format, sampling)
    finally:
        engine.close()
    return {"accuracy": score.accuracy, "n": score.n, "correct": score.n_correct,
            "per_task": {task: list(counts) for task, counts in sorted(score.per_task.items())},
            "mean_tokens": round(score.mean_tokens, 2), "seconds": round(time.perf_counter() - started, 1)}
