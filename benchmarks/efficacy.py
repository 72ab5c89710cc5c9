"""Curation efficacy: does training on warmstart's splits beat training on uncurated data?

Curates once (configs/efficacy.yaml -> the curate config it names), then per seed trains
sft_uncurated (random prompts + first sample, unverified, same size), sft_curated (the warm-up
split), grpo (sft_curated + GRPO on the RL split) and dpo (sft_curated + DPO on the pairs), and
evaluates every model, and the base model, on the bundled held-out eval sets with the same
verifiers. Writes docs/results.md + docs/results.png and prints one JSON line. Progress is kept
in <work_dir>/state.json, so an interrupted run continues where it stopped.

    .venv/bin/python benchmarks/efficacy.py [--config configs/efficacy.yaml] [--quick] [--fresh]
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # stdout carries the JSON line only
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from pydantic import Field  # noqa: E402

from benchmarks.bench_config import merge_overrides  # noqa: E402
from benchmarks.efficacy_report import summarize, write_report  # noqa: E402
from schemas.config import StrictModel, read_yaml, validate_model  # noqa: E402

TASKS = ["chain_sum", "gcd", "letter_counting", "basic_arithmetic"]


class CurateSizes(StrictModel):
    config: Path = Field(Path("configs/demo.yaml"), description="the curate job whose splits are tested")
    prompts_per_task: int = Field(32, ge=1, description="count of every reasoning-gym source")
    overrides: dict = Field(default_factory=dict, description="dotted-key overrides of that config")


class EvalSizes(StrictModel):
    prompts_per_task: int = Field(50, ge=1, description="first N of each data/eval/<task>.jsonl")
    temperature: float = Field(0.0, ge=0, description="0 = greedy")
    max_tokens: int = Field(160, ge=1, description="longest answer")
    backend_options: dict = Field(default_factory=dict, description="vLLM engine options")


class EfficacyConfig(StrictModel):
    """Sizes of the efficacy experiment; trainer sections are trainers/config.py options."""

    work_dir: Path = Path("runs/efficacy")
    seeds: list[int] = Field([0, 1, 2], min_length=1)
    keep_checkpoints: bool = False
    curate: CurateSizes = Field(default_factory=CurateSizes)
    eval: EvalSizes = Field(default_factory=EvalSizes)
    sft: dict = Field(default_factory=dict)
    grpo: dict = Field(default_factory=dict)
    dpo: dict = Field(default_factory=dict)
    quick: dict = Field(default_factory=dict, description="overrides applied by --quick")


def load_efficacy_config(path: Path, quick: bool) -> EfficacyConfig:
    """The YAML, with its `quick:` section merged in (recursively) when --quick."""
    raw = read_yaml(path)
    if quick:
        raw = merge_overrides(raw, raw.get("quick", {}))
    return validate_model(EfficacyConfig, raw, path)


# --- curation -------------------------------------------------------------------------------------

def curate(cfg: EfficacyConfig, lake_dir: Path):
    """Run warmstart's curate flow once into the experiment's own lake; return (curate config, seconds)."""
    from flows.config import load_config
    from flows.curate import run_curation

    overrides = [f"{k}={json.dumps(v)}" for k, v in cfg.curate.overrides.items()] + [f"lake={lake_dir}"]
    curate_cfg = load_config(ROOT / cfg.curate.config, overrides)
    for source in curate_cfg.sources:
        if source.type == "reasoning_gym":
            source.count = cfg.curate.prompts_per_task
    started = time.perf_counter()
    if not (lake_dir / "catalog.ducklake").exists():
        run_curation(curate_cfg)
    return curate_cfg, time.perf_counter() - started


def split_name(lake, kind: str, wanted: str) -> str:
    """The registered split for `kind` (a DMT mix registers <name>_stage1/2: take stage 1)."""
    from schemas.split_registry import list_splits

    names = set(list_splits(lake).column("split_name").to_pylist())
    for candidate in (wanted, f"{wanted}_stage1"):
        if candidate in names:
            return candidate
    raise SystemExit(f"curation registered no '{wanted}' split (splits: {sorted(names)})")


def uncurated_split(lake, curate_cfg, n_examples: int, seed: int, out: Path) -> Path:
    """n random train prompts, each with its first sample as the answer (no verification, no filters)."""
    from curation.generate import conversation

    prompts = lake.read("prompts", where="split_guard = 'train' AND source LIKE 'reasoning_gym:%'")
    first = lake.read("generations", where="sample_index = 0").to_pylist()
    response = {g["prompt_id"]: g["response"] for g in first}
    pool = [p for p in prompts.to_pylist() if response.get(p["prompt_id"], "").strip()]
    random.Random(seed).shuffle(pool)
    rows = [{"messages": conversation(p["prompt"], curate_cfg.prompt_format)
             + [{"role": "assistant", "content": response[p["prompt_id"]]}], "prompt_id": p["prompt_id"]}
            for p in pool[:n_examples]]
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), out)
    return out


def count_tokens(rows: list[dict]) -> int:
    """Tokens of the rendered conversations (the budget an SFT epoch trains on)."""
    from trainers.run import load_tokenizer
    from curation.models import resolve_model

    tokenizer = load_tokenizer(resolve_model("smollm2-135m-instruct"))
    texts = [tokenizer.apply_chat_template(r["messages"], tokenize=False) for r in rows]
    return sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])


# --- training and evaluation ----------------------------------------------------------------------

def train(trainer: str, options: dict, *, lake, seed: int, model: str, out: Path, split=None, data=None):
    """One training run through trainers' public API; tokens trained and wall seconds."""
    from trainers.config import load_config
    from trainers.run import train as run_train

    values = {**options, "seed": seed, "model": model, "out": str(out), "split": split,
              "data": str(data) if data else None, "progress": False, "log_interval": 1}
    cfg = load_config(trainer, None, values)
    tokens = []
    started = time.perf_counter()
    result = run_train(trainer, cfg, lake=lake, run_id=f"efficacy-{trainer}-{seed}",
                       on_metrics=lambda step, m: tokens.append(m.get("tokens", 0.0)))
    return {"tokens": int(sum(tokens)), "seconds": time.perf_counter() - started, "steps": result.steps,
            "checkpoint": str(result.checkpoint)}


def eval_prompts(per_task: int) -> pa.Table:
    """The bundled held-out questions as a prompts-like table (reasoning-gym verifier)."""
    from schemas.ids import canonical_json, content_id

    rows = []
    for task in TASKS:
        lines = (ROOT / "data" / "eval" / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()
        for line in lines[:per_task]:
            item = json.loads(line)
            rows.append({"prompt_id": content_id(task, item["question"]), "task": task,
                         "prompt": item["question"], "answer": str(item["answer"]),
                         "verifier": "reasoning_gym", "metadata": canonical_json(item["metadata"])})
    return pa.Table.from_pylist(rows)


def evaluate(model: str, prompts: pa.Table, cfg: EfficacyConfig, prompt_format, seed: int) -> dict:
    """Accuracy (overall and per task) of `model` on the eval prompts, with the curation verifiers."""
    from curation.backends import Sampling, load_backend
    from flows.heldout import evaluate as score_held_out

    started = time.perf_counter()
    backend = load_backend("vllm", model, seed=seed, options=cfg.eval.backend_options)
    try:
        sampling = Sampling(k=1, temperature=cfg.eval.temperature, max_tokens=cfg.eval.max_tokens, seed=seed)
        score = score_held_out(backend, prompts, prompt_format, sampling)
    finally:
        backend.close()
    return {"accuracy": score.accuracy, "n": score.n, "eval_seconds": time.perf_counter() - started,
            "per_task": score.task_rates(), "mean_tokens": score.mean_tokens}


# --- the experiment -------------------------------------------------------------------------------

class State:
    """Finished (condition, seed) results in <work_dir>/state.json; a changed config starts over."""

    def __init__(self, path: Path, fingerprint: str, fresh: bool):
        self.path = path
        data = json.loads(path.read_text()) if path.exists() and not fresh else {}
        self.data = data if data.get("fingerprint") == fingerprint else {"fingerprint": fingerprint}

    def get(self, key: str):
        return self.data.get(key)

    def put(self, key: str, value) -> None:
        self.data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=1))


def run_seed(seed: int, ctx: dict, state: State) -> None:
    """Train and evaluate the four trained conditions for one seed."""
    cfg, lake, work = ctx["cfg"], ctx["lake"], ctx["work"]
    plan = [("sft_uncurated", "sft", "smollm2-135m-instruct", {"data": ctx["uncurated"](seed)}),
            ("sft_curated", "sft", "smollm2-135m-instruct", {"split": ctx["splits"]["sft"]}),
            ("dpo", "dpo", str(work / "ckpt" / f"sft_curated-{seed}"), {"split": ctx["splits"]["preference"]}),
            ("grpo", "grpo", str(work / "ckpt" / f"sft_curated-{seed}"), {"split": ctx["splits"]["rl"]})]
    for condition, trainer, start, source in plan:
        key = f"{condition}/{seed}"
        if state.get(key):
            continue
        out = work / "ckpt" / f"{condition}-{seed}"
        print(f"[efficacy] seed {seed}: training {condition}", file=sys.stderr, flush=True)
        trained = train(trainer, getattr(cfg, trainer), lake=lake, seed=seed, model=start, out=out, **source)
        if condition in ("dpo", "grpo"):  # cumulative: the warm-up SFT they start from counts too
            warm = state.get(f"sft_curated/{seed}")
            trained["tokens"] += warm["tokens"]
            trained["seconds"] += warm["seconds"]
        print(f"[efficacy] seed {seed}: evaluating {condition}", file=sys.stderr, flush=True)
        state.put(key, {**trained, **evaluate(str(out), ctx["eval"], cfg, ctx["format"], seed)})
        if not cfg.keep_checkpoints and condition != "sft_curated":
            shutil.rmtree(out, ignore_errors=True)
        ctx["report"]()
    if not cfg.keep_checkpoints:
        shutil.rmtree(work / "ckpt" / f"sft_curated-{seed}", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "efficacy.yaml")
    parser.add_argument("--quick", action="store_true", help="a few-minute smoke run (the quick: sizes)")
    parser.add_argument("--fresh", action="store_true", help="ignore finished results in the work dir")
    parser.add_argument("--out", type=Path, help="markdown report (default docs/results.md; --quick: work dir)")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from finished runs")
    parser.add_argument("--note", help="a remark for the report, e.g. what else loaded the machine (kept)")
    args = parser.parse_args()
    cfg = load_efficacy_config(args.config, args.quick)
    work = cfg.work_dir if cfg.work_dir.is_absolute() else ROOT / cfg.work_dir
    fingerprint = hashlib.sha256(cfg.model_dump_json(exclude={"quick"}).encode()).hexdigest()[:16]
    if args.fresh and work.exists():
        shutil.rmtree(work)
    state = State(work / "state.json", fingerprint, args.fresh)
    report_path = args.out or (work / "results.md" if args.quick else ROOT / "docs" / "results.md")
    if args.note:
        state.put("note", args.note)
    if args.report_only:
        write_report(report_path, summarize(state.data, cfg.seeds), cfg, state.data)
        return
    if not state.get("curate"):
        shutil.rmtree(work / "lake", ignore_errors=True)  # a half-finished or stale curation
    ctx = run_setup(cfg, work, state)
    ctx["report"] = lambda: write_report(report_path, summarize(state.data, cfg.seeds), cfg, state.data)
    for seed in cfg.seeds:
        run_seed(seed, ctx, state)
    summary = summarize(state.data, cfg.seeds)
    write_report(report_path, summary, cfg, state.data)
    print(json.dumps({"name": "efficacy", "report": str(report_path), "conditions": summary}, default=str))


def run_setup(cfg: EfficacyConfig, work: Path, state: State) -> dict:
    """Curate (once), evaluate the base model, and prepare what every seed needs."""
    from schemas.lake import Lake
    from schemas.split_registry import read_split

    lake_dir = work / "lake"
    print("[efficacy] curating", file=sys.stderr, flush=True)
    curate_cfg, seconds = curate(cfg, lake_dir)
    lake = Lake(lake_dir)
    splits = {kind: split_name(lake, kind, getattr(curate_cfg.splits, kind)) for kind in ("sft", "preference", "rl")}
    curated = read_split(lake, splits["sft"]).rows.to_pylist()
    if "sft_origins" not in (state.get("curate") or {}):
        state.put("curate", {"seconds": seconds, **(state.get("curate") or {}),
                             **curate_facts(lake, splits, curated, cfg)})
    prompts = eval_prompts(cfg.eval.prompts_per_task)

    def uncurated(seed: int) -> Path:
        path = uncurated_split(lake, curate_cfg, len(curated), seed, work / f"uncurated-{seed}.parquet")
        state.put(f"uncurated_tokens/{seed}", count_tokens(pq.read_table(path).to_pylist()))
        return path

    for seed in cfg.seeds:
        if state.get(f"base/{seed}"):
            continue
        if cfg.eval.temperature == 0 and state.get(f"base/{cfg.seeds[0]}"):
            state.put(f"base/{seed}", state.get(f"base/{cfg.seeds[0]}"))  # greedy: deterministic
            continue
        print(f"[efficacy] seed {seed}: evaluating base", file=sys.stderr, flush=True)
        base = evaluate("smollm2-135m-instruct", prompts, cfg, curate_cfg.prompt_format, seed)
        state.put(f"base/{seed}", {"tokens": 0, "seconds": 0.0, "steps": 0, **base})
    return {"cfg": cfg, "lake": lake, "work": work, "splits": splits, "uncurated": uncurated,
            "eval": prompts, "format": curate_cfg.prompt_format}


def curate_facts(lake, splits: dict, curated: list[dict], cfg: EfficacyConfig) -> dict:
    """Split sizes, SFT tokens and origins, the train prompt pool, and leaks into the eval set."""
    from schemas.split_registry import read_split

    texts = set(eval_prompts(cfg.eval.prompts_per_task).column("prompt").to_pylist())
    train = lake.read("prompts", where="split_guard = 'train' AND source LIKE 'reasoning_gym:%'")
    origins: dict[str, int] = {}
    for row in curated:
        origins[row["origin"]] = origins.get(row["origin"], 0) + 1
    return {"splits": {kind: read_split(lake, name).rows.num_rows for kind, name in splits.items()},
            "sft_tokens": count_tokens(curated), "sft_origins": origins, "train_prompts": train.num_rows,
            "sft_prompts": len({row["prompt_id"] for row in curated}),
            # exact text matches; the curate flow's n-gram decontamination runs before this
            "eval_overlap": sum(text in texts for text in train.column("prompt").to_pylist())}


if __name__ == "__main__":
    main()
