"""`make efficacy`: does warmstart's curation beat the baselines practitioners use? Four questions
(benchmarks/efficacy_plan.py): curated warm-up SFT vs gold-answer SFT at equal rows and at equal
tokens; GRPO from the warm-up vs from the base model; GRPO on the difficulty-filtered `rl` split vs
random prompts; and the SFT share of a fixed example budget. Curates once, trains every arm per
seed, evaluates each on the bundled held-out sets, and writes one JSON per arm and seed (with its
configs) to `results_dir` (docs/efficacy/cpu by default); a finished file is not run again.
benchmarks/efficacy_report.py renders docs/results.md and the README figures from those files.

    python benchmarks/efficacy.py [--quick | --profile gpu] [--set grpo.max_steps=40] [--note TEXT] [--fresh]
"""

import argparse
import json
import os
import platform
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # stdout carries the JSON line only
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks import efficacy_data as data  # noqa: E402
from benchmarks.efficacy_config import EfficacyConfig, load_efficacy_config  # noqa: E402
from benchmarks.efficacy_plan import Arm, Stage, arms_for, curve_points, fingerprint, long_grpo_options  # noqa: E402

def log(message: str) -> None:
    print(f"[efficacy {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def mode(cfg: EfficacyConfig) -> str:
    """"smoke" (fake-policy curation, tiny random model: the numbers mean nothing) or "full"."""
    return "smoke" if cfg.smoke else "full"


def machine() -> dict:
    """Where a result was measured (the report prints it beside the numbers)."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"platform": platform.machine(), "cpus": os.cpu_count(), "gpu": gpu,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version()}


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (vLLM engines): the load-independent cost."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measured(run):
    """run() -> (its result, wall seconds, CPU seconds, load average at the end)."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = run()
    return result, round(time.perf_counter() - wall, 1), round(cpu_seconds() - cpu, 1), \
        [round(x, 1) for x in os.getloadavg()]


@dataclass
class Context:
    """What every arm of every seed draws on: the lake, its splits and pool, eval prompts, counters."""

    cfg: EfficacyConfig
    calls: object  # benchmarks/efficacy_calls.py, or a fake in tests
    work: Path
    results: Path
    lake: object = None
    curate_cfg: object = None
    splits: dict = field(default_factory=dict)  # kind -> (name, rows)
    pool: list = field(default_factory=list)
    eval_prompts: object = None
    count: object = None
    label_count: object = None
    facts: dict = field(default_factory=dict)
    base_model: str = ""  # cfg.model, or in a smoke run a tiny random model in work_dir
    wall_before: float = 0.0  # wall seconds of earlier invocations that this one resumes


def setup(ctx: Context) -> dict:
    """Curate once (a lake per curate config), read splits and pool, count tokens; the curate facts."""
    cfg, calls = ctx.cfg, ctx.calls
    lake_dir = ctx.work / f"lake-{fingerprint([cfg.curate.model_dump(mode='json'), cfg.smoke])}"
    log(f"curating into {lake_dir}")
    (ctx.curate_cfg, ctx.lake, ran), wall, cpu, load = measured(lambda: calls.curate(
        cfg.curate.config, cfg.curate.prompts_per_task, cfg.curate.overrides, lake_dir, smoke=cfg.smoke))
    ctx.base_model = calls.tiny_model(ctx.work / "tiny-model") if cfg.smoke else cfg.model
    names = ctx.curate_cfg.splits
    ctx.splits = {"sft": calls.split_rows(ctx.lake, "sft", names.sft), "rl": calls.split_rows(ctx.lake, "rl", names.rl)}
    ctx.pool = calls.prompt_pool(ctx.lake, ctx.curate_cfg.prompt_format)
    ctx.count, ctx.label_count = calls.sft_token_counters(cfg.sft, ctx.base_model)
    ctx.eval_prompts = calls.eval_prompts(cfg.tasks, cfg.eval.prompts_per_task)
    eval_texts = set(ctx.eval_prompts.column("prompt").to_pylist())
    ctx.facts = {"curate_wall_s": wall, "curate_cpu_s": cpu, "curate_reused": not ran, "pool_prompts": len(ctx.pool),
                 "sft": data.facts(ctx.splits["sft"][1], ctx.count, label_count=ctx.label_count),
                 "rl": {"rows": len(ctx.splits["rl"][1]),
                        "by_task": _by_task(ctx.splits["rl"][1])},
                 "pool_by_task": _by_task(ctx.pool), "eval_prompts": ctx.eval_prompts.num_rows,
                 # exact text matches; the curate flow's 13-gram decontamination ran before this
                 "eval_overlap": sum(p["raw_prompt"] in eval_texts for p in ctx.pool)}
    return ctx.facts


def _by_task(rows: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["task"]] = counts.get(row["task"], 0) + 1
    return dict(sorted(counts.items()))


def budget_total(cfg: EfficacyConfig) -> tuple[int, int]:
    """(examples in the budget, prompts one GRPO step visits)."""
    from trainers.config import load_config

    grpo = load_config("grpo", None, {**cfg.grpo, "progress": False})
    per_step = grpo.batch_size * grpo.grad_accum
    return cfg.budget.total_examples or grpo.max_steps * per_step, per_step


def stage_rows(ctx: Context, arm: Arm, data_name: str, seed: int) -> dict:
    """What a stage trains on: a lake split (name) or rows written to a file; with their facts."""
    cfg, (sft_name, curated), (rl_name, rl_rows) = ctx.cfg, ctx.splits["sft"], ctx.splits["rl"]
    if data_name == "curated":
        return {"split": sft_name, "facts": ctx.facts["sft"]}
    if data_name == "rl":
        return {"split": rl_name, "facts": {"rows": len(rl_rows), "prompts": len(rl_rows)}}
    if data_name in ("gold_rows", "gold_tokens"):
        label = ctx.cfg.gold_tokens == "label"  # which tokens "equal tokens" counts
        target = ctx.facts["sft"]["label_tokens" if label else "tokens"] if data_name == "gold_tokens" else 0
        template = ctx.curate_cfg.sft.gold_template
        rows = data.gold_sft_rows(ctx.pool, seed=seed, rows=len(curated), tokens=target,
                                  count=ctx.label_count if label else ctx.count,
                                  template=template, messages=ctx.calls.conversation_of(ctx.curate_cfg.prompt_format))
        return {"rows": rows, "facts": data.facts(rows, ctx.count, label_count=ctx.label_count)}
    if data_name == "random_rl":
        rows = data.random_rl_rows(ctx.pool, len(rl_rows), seed)
        overlap = len({r["prompt_id"] for r in rows} & {r["prompt_id"] for r in rl_rows})
        return {"rows": rows, "facts": {"rows": len(rows), "prompts": len(rows), "in_rl_split": overlap}}
    if data_name == "budget_sft":
        total, per_step = budget_total(cfg)
        rows = data.budget_sft_rows(curated, data.budget_split(total, arm.share, per_step)[0], seed)
        return {"rows": rows, "facts": data.facts(rows, ctx.count, label_count=ctx.label_count)}
    raise ValueError(f"unknown stage data '{data_name}'")


def stage_options(ctx: Context, arm: Arm, stage: Stage) -> dict:
    """The trainer options of a stage: the config's section (a long stage: with `curve.grpo` over it),
    GRPO steps from the budget when a budget point."""
    section = getattr(ctx.cfg, stage.trainer)
    options = long_grpo_options(section, ctx.cfg.curve.grpo) if stage.long else dict(section)
    if stage.trainer == "grpo" and arm.share is not None:
        total, per_step = budget_total(ctx.cfg)
        options["max_steps"] = data.budget_split(total, arm.share, per_step)[1]
    return options


def stage_points(spec: dict) -> list[int]:
    """The steps at which a long stage's checkpoints are evaluated (none for other stages)."""
    return curve_points(spec["options"]["max_steps"], spec["every"]) if "every" in spec else []


def resolve(ctx: Context, arm: Arm, seed: int) -> list[dict]:
    """The arm's stages for this seed: trainer, options, data (split or rows) and an identity to hash."""
    specs = []
    for stage in arm.stages:
        rows = stage_rows(ctx, arm, stage.data, seed)
        if "rows" in rows and not rows["rows"]:
            continue  # e.g. a budget share too small for one SFT row: the arm is its GRPO stage alone
        identity = rows.get("split") or sorted(r["prompt_id"] + r.get("origin", "") for r in rows["rows"])
        spec = {"trainer": stage.trainer, "data": stage.data, "options": stage_options(ctx, arm, stage),
                "identity": identity, "rows": rows}
        if stage.long:
            if not spec["options"].get("max_steps"):
                raise ValueError(f"arm {arm.name}: a long GRPO stage needs max_steps (curve.grpo or grpo)")
            spec["every"] = ctx.cfg.curve.every
        specs.append(spec)
    return specs


def hashed(ctx: Context, specs: list[dict], seed: int | None) -> str:
    """Identity of a trained chain: base model, each stage's trainer, options and data, the seed."""
    return fingerprint([ctx.base_model] + [{k: s[k] for k in ("trainer", "options", "identity", "every") if k in s}
                                           for s in specs] + [seed])


def train_chain(ctx: Context, arm: Arm, specs: list[dict], seed: int) -> tuple[str, list[dict]]:
    """Train the stages in order from the base model, reusing a finished prefix; (model dir, stage records)."""
    start, records = ctx.base_model, []
    for index, spec in enumerate(specs):
        out = ctx.work / "ckpt" / hashed(ctx, specs[:index + 1], seed)
        record = {"trainer": spec["trainer"], "data": spec["data"], "data_facts": spec["rows"]["facts"]}
        done, points = out / "efficacy_stage.json", stage_points(spec)
        # a long stage keeps a checkpoint per evaluated step (without them it trains again)
        if done.exists() and all((out / f"checkpoint-{k}").is_dir() for k in points[:-1]):
            log(f"seed {seed} {arm.name}: stage {index + 1} reused ({out.name})")
            record.update(json.loads(done.read_text()), reused=True)
        else:
            log(f"seed {seed} {arm.name}: training stage {index + 1}/{len(specs)} "
                f"({spec['trainer']} on {spec['data']})")
            source = {"split": spec["rows"]["split"]} if "split" in spec["rows"] else \
                {"data": ctx.calls.write_rows(spec["rows"]["rows"], out.with_suffix(".parquet"))}
            shutil.rmtree(out, ignore_errors=True)  # a stage killed half-way starts over
            saving = {"save_interval": spec["every"], "save_total_limit": len(points)} if points else {}
            trained, wall, cpu, load = measured(lambda: ctx.calls.train(
                spec["trainer"], {**spec["options"], **saving}, lake=ctx.lake, seed=seed, start=start, out=out,
                run_id=f"{arm.name}-{seed}-{index}-{uuid.uuid4().hex[:6]}", **source))
            trained.update(wall_s=wall, cpu_s=cpu, load_end=load)
            done.write_text(json.dumps(trained))
            record.update(trained)
        records.append(record)
        start = str(out)
    return start, records


def evaluate(ctx: Context, model: str, seed: int) -> dict:
    """Held-out accuracy of `model`, with its wall and CPU seconds."""
    e = ctx.cfg.eval
    result, wall, cpu, load = measured(lambda: ctx.calls.evaluate(
        model, ctx.eval_prompts, ctx.curate_cfg.prompt_format, backend=e.backend, temperature=e.temperature,
        max_tokens=e.max_tokens, seed=seed, backend_options=e.backend_options))
    return {**result, "wall_s": wall, "cpu_s": cpu, "load_end": load}


def result_path(ctx: Context, arm: str, seed: int) -> Path:
    return ctx.results / "runs" / f"{arm}.seed{seed}.json"


def finished(ctx: Context) -> dict[str, dict]:
    """Finished results in results_dir by fingerprint (an arm with an equal spec reuses one)."""
    found = {}
    for path in sorted((ctx.results / "runs").glob("*.json")):
        result = json.loads(path.read_text())
        if "same_run_as" not in result:  # a copy names the run it copies
            found.setdefault(result["fingerprint"], result)
    return found


def run_arm(ctx: Context, arm: Arm, seed: int, done: dict[str, dict]) -> dict:
    """Train (or reuse) and evaluate one arm for one seed; write and return its result."""
    specs = resolve(ctx, arm, seed)
    greedy_base = not specs and ctx.cfg.eval.temperature == 0  # one eval of the base serves all seeds
    key = fingerprint([hashed(ctx, specs, None if greedy_base else seed), ctx.cfg.eval.model_dump(mode='json')])
    path = result_path(ctx, arm.name, seed)
    if key in done:
        previous = done[key]
        if previous["arm"] == arm.name and previous["seed"] == seed:
            return previous
        result = {**previous, "arm": arm.name, "label": arm.label, "share": arm.share, "seed": seed,
                  "same_run_as": f"{previous['arm']}.seed{previous['seed']}"}
    else:
        model, stages = train_chain(ctx, arm, specs, seed) if specs else (ctx.base_model, [])
        log(f"seed {seed} {arm.name}: evaluating")
        result = {"arm": arm.name, "label": arm.label, "seed": seed, "profile": ctx.cfg.profile, "mode": mode(ctx.cfg),
                  "fingerprint": key, "share": arm.share, "stages": stages, "eval": evaluate(ctx, model, seed),
                  "machine": machine(), "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if arm.curve:  # the checkpoints before the last step; the last is `eval`
            points = stage_points(specs[-1])
            result["eval_at"] = {str(k): evaluate(ctx, str(Path(model) / f"checkpoint-{k}"), seed) for k in points[:-1]}
            result["eval_at_steps"] = points
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    path.write_text(text.replace(f"{ROOT}/", ""), encoding="utf-8")  # paths relative to the repository
    done[key] = result
    return result


def prune_checkpoints(ctx: Context, pending: list[tuple[Arm, int]]) -> None:
    """Delete checkpoints no pending arm starts from (unless keep_checkpoints)."""
    if ctx.cfg.keep_checkpoints:
        return
    needed = set()
    for arm, seed in pending:
        specs = resolve(ctx, arm, seed)
        needed |= {hashed(ctx, specs[:i], seed) for i in range(1, len(specs))}
    for path in (ctx.work / "ckpt").glob("*"):
        if path.is_dir() and path.name not in needed:
            shutil.rmtree(path, ignore_errors=True)
            path.with_suffix(".parquet").unlink(missing_ok=True)


def write_experiment(ctx: Context, started: float, state: str, note: str | None) -> Path:
    """results_dir/experiment.json: the config as run, curate facts, machine, wall time, status.
    Wall time adds up over resumed invocations (`wall_s_before`: what earlier ones took)."""
    path = ctx.results / "experiment.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    total, per_step = budget_total(ctx.cfg)
    doc = {"mode": mode(ctx.cfg), "config": ctx.cfg.model_dump(mode="json", exclude={"profiles"}), "curate": ctx.facts,
           "budget": {"total_examples": total, "grpo_prompts_per_step": per_step}, "machine": machine(),
           "status": state, "wall_s": round(ctx.wall_before + time.perf_counter() - started, 1),
           "wall_s_before": ctx.wall_before, "load_now": [round(x, 1) for x in os.getloadavg()],
           "note": note or old.get("note"), "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    ctx.results.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def run(cfg: EfficacyConfig, calls, *, note: str | None = None, fresh: bool = False) -> list[dict]:
    """The whole experiment: every arm of every seed, resuming from finished result files."""
    work = cfg.work_dir if cfg.work_dir.is_absolute() else ROOT / cfg.work_dir
    results = cfg.results_dir if cfg.results_dir.is_absolute() else ROOT / cfg.results_dir
    if fresh:
        shutil.rmtree(results / "runs", ignore_errors=True)
        shutil.rmtree(work / "ckpt", ignore_errors=True)
    ctx, started = Context(cfg, calls, work, results), time.perf_counter()
    earlier = results / "experiment.json"
    ctx.wall_before = json.loads(earlier.read_text())["wall_s"] if earlier.exists() and not fresh else 0.0
    setup(ctx)
    write_experiment(ctx, started, "running", note)
    # arm by arm, every seed of an arm before the next: an interrupted run leaves whole questions answered
    done, plan = finished(ctx), [(arm, seed) for arm in arms_for(cfg.budget.sft_shares) for seed in cfg.seeds]
    out = []
    try:
        for index, (arm, seed) in enumerate(plan):
            out.append(run_arm(ctx, arm, seed, done))
            prune_checkpoints(ctx, plan[index + 1:])
            write_experiment(ctx, started, "running", note)
    except BaseException:  # Ctrl-C, SIGTERM (see main) or a failure: the files say the run stopped
        write_experiment(ctx, started, "interrupted", note)
        raise
    write_experiment(ctx, started, "finished", note)
    return out


def exit_on_sigterm() -> None:
    """SIGTERM raises SystemExit, so an interrupted run still records its status."""
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "efficacy.yaml")
    parser.add_argument("--profile", help="named sizes from the config's profiles: (quick, gpu)")
    parser.add_argument("--quick", action="store_const", const="quick", dest="profile", help="= --profile quick")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="dotted override")
    parser.add_argument("--fresh", action="store_true", help="delete this profile's results and checkpoints first")
    parser.add_argument("--note", help="a remark kept with the results, e.g. what else loaded the machine")
    parser.add_argument("--no-report", action="store_true", help="do not render the report afterwards")
    args = parser.parse_args(argv)
    cfg = load_efficacy_config(args.config, args.profile, args.set)
    exit_on_sigterm()
    from benchmarks import efficacy_calls

    results = run(cfg, efficacy_calls, note=args.note, fresh=args.fresh)
    if not args.no_report:
        from benchmarks.efficacy_report import publish

        publish(cfg)
    print(json.dumps({"name": "efficacy", "profile": cfg.profile, "results": str(cfg.results_dir),
                      "runs": len(results)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
