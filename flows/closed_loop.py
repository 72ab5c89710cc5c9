"""`warmstart loop`: round after round, curate with the current policy, train it, score it on
held-out prompts, and carry the prompts it still fails into the next round (iTool, QwenLong-L1).

Round r:  curate   the policy generates on fresh prompts plus round r-1's failures; that re-ranks
                   their difficulty under this policy, and the splits come from what it passes and fails
          train    `train.first` on round 0 (SFT warm-up), `train.later` after; each from the last checkpoint
          evaluate the checkpoint on held-out prompts (loop_evals; the base policy too on round 0)
Every stage ends in a loop_rounds row, so a stopped loop re-run with the same name continues
where it stopped; curate and train run ids are derived from the loop's name and round.
"""

import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from flows.closed_loop_config import LoopConfig
from flows.run_record import recorded_run
from schemas.errors import ConfigError
from schemas.lake import Lake
from schemas.lake_location import public_location
from schemas.lake_sql import literal
from schemas.split_registry import stage_split
from schemas.tables import SPLIT_KINDS
from schemas.validate import conform
from trainers.registry import trainer_spec

RESUMABLE_KEYS = {"rounds"}  # the only config keys a continued loop may change


def run_loop(cfg: LoopConfig, *, log=print) -> list[dict]:
    """Run (or continue) the loop to cfg.rounds rounds; returns every round's loop_rounds row."""
    from curation.models import resolve_model
    from flows.preflight import check_methods
    from flows.sources import load_prompts

    lake = Lake(cfg.lake)
    eval_prompts = load_prompts(cfg.eval.sources)  # bad input stops here, before any write
    first = curate_config(cfg, 0, cfg.model)
    policy = cfg.model or first.model
    if first.backend != "openai":
        resolve_model(policy)
    check_methods(first, load_prompts(first.sources, first.data_roots))  # DMT stages, judge model
    for trainer in {*cfg.train.first, *cfg.train.later}:  # trainer options are checked up front too
        train_config(cfg, trainer, 0, policy, "any-split", None)
    rows = previous_rounds(lake, cfg)
    score = None  # the held-out score of `policy`, once measured
    # the loop's own `runs` row (kind loop); its curate and train runs name it as parent
    with recorded_run(lake, cfg.name, "loop", public_config(cfg)):
        for r in range(cfg.rounds):
            row = rows.get(r) or new_round(cfg, r, policy)
            if row["status"] != "completed":
                log(f"loop {cfg.name}: round {r + 1}/{cfg.rounds} ({row['status']})")
                row = run_round(cfg, lake, row, eval_prompts, score, log)
            rows[r] = row
            policy, score = row["checkpoint"], row["eval_pass_rate"]
    return [rows[r] for r in sorted(rows) if r < cfg.rounds]


def public_config(cfg: LoopConfig) -> str:
    """The loop config as `runs.config` stores it: JSON, the lake's password masked."""
    return cfg.model_copy(update={"lake": public_location(cfg.lake)}).model_dump_json()


def new_round(cfg: LoopConfig, r: int, policy: str) -> dict:
    """A loop_rounds row for a round about to start."""
    from schemas.tables import TABLES

    row = dict.fromkeys(TABLES["loop_rounds"].schema.names)
    return {**row, "loop_id": cfg.name, "round": r, "status": "started", "policy_in": policy, "started": now()}


def run_round(cfg: LoopConfig, lake: Lake, row: dict, eval_prompts: pa.Table, score_in: float | None,
              log) -> dict:
    """The stages of one round that are not done yet; each ends in a loop_rounds commit.
    score_in is the held-out score of the policy the round starts from (None on round 0)."""
    r = row["round"]
    if row["status"] == "started":
        row.update(curate_round(cfg, lake, r, row["policy_in"]), status="curated")
        save_round(lake, row)
    if row["status"] == "curated":
        trainers = cfg.train.first if r == 0 else cfg.train.later
        checkpoint, run_ids = train_round(cfg, lake, r, row["policy_in"], json.loads(row["splits"]), trainers, log)
        row.update(checkpoint=checkpoint, train_run_ids=",".join(run_ids), status="trained")
        save_round(lake, row)
    if row["status"] == "trained":
        log(f"  evaluate on {eval_prompts.num_rows} held-out prompts")
        row.update(evaluate_round(cfg, lake, r, row, eval_prompts, score_in), status="completed", finished=now())
        save_round(lake, row)
    return row


def curate_round(cfg: LoopConfig, lake: Lake, r: int, policy: str) -> dict:
    """Curate with the policy over fresh prompts plus the ones the last round's policy failed."""
    from flows.curate import run_curation

    curate_cfg = curate_config(cfg, r, policy)
    mined = mined_prompts(cfg, lake, r - 1) if r > 0 else None
    summary = run_curation(curate_cfg, run_id=run_id(cfg, r, "curate"), extra_prompts=mined, parent=cfg.name)
    splits = {}
    for kind in SPLIT_KINDS:
        name = getattr(curate_cfg.splits, kind)
        found = registered_split(summary.splits, name)
        if found:
            splits[kind] = {"name": name, "version": found[0], "rows": found[1]}
    return {"curate_run_id": summary.run_id, "n_prompts": summary.counts.get("prompts"),
            "n_mined": 0 if mined is None else mined.num_rows, "splits": json.dumps(splits, sort_keys=True)}


def curate_config(cfg: LoopConfig, r: int, policy: str | None):
    """Round r's curate config: the loop's lake and policy, round-named splits, moved seeds."""
    from flows.config import load_config

    overrides = [f"{key}={json.dumps(value)}" for key, value in cfg.curate.overrides.items()]
    overrides += [f"lake={json.dumps(cfg.lake)}"] + ([f"model={json.dumps(policy)}"] if policy else [])
    overrides += [f"splits.{kind}={json.dumps(f'{cfg.name}-r{r}-{kind}')}" for kind in SPLIT_KINDS]
    curate_cfg = load_config(cfg.curate.config, overrides)
    sources = []
    for source in curate_cfg.sources:
        if source.type == "reasoning_gym":
            source.seed += 7919 * r  # new prompts each round, the same ones when a round is re-run
            if r > 0 and cfg.curate.fresh_per_source is not None:
                source.count = cfg.curate.fresh_per_source
            if source.count:
                sources.append(source)
        elif r == 0:  # a file's prompts are curated once; later rounds carry their failures
            sources.append(source)
    curate_cfg.sources = sources
    return curate_cfg


def mined_prompts(cfg: LoopConfig, lake: Lake, r: int) -> pa.Table:
    """Round r's prompts that its policy passed less often than mine.below_pass_rate, hardest first."""
    limit = f"LIMIT {cfg.mine.max_prompts}" if cfg.mine.max_prompts else ""
    table = lake.query(f"""
        SELECT p.* EXCLUDE (run_id) FROM prompts p JOIN prompt_stats s USING (prompt_id)
        WHERE s.run_id = {literal(run_id(cfg, r, 'curate'))} AND s.pass_rate < {cfg.mine.below_pass_rate}
        ORDER BY s.pass_rate, p.prompt_id {limit}""")
    return conform("prompts", table.to_pylist(), run_id="")


def registered_split(splits: dict, name: str) -> tuple[int, int] | None:
    """(version, rows) of the split the curate run registered as `name`, or as a DMT mix's two
    stages (name_stage1, name_stage2: rows of both); None when it has no rows."""
    parts = [splits[n] for n in (name, stage_split(name, 1), stage_split(name, 2)) if n in splits]
    rows = sum(n_rows for _, n_rows in parts)
    return (parts[0][0], rows) if rows else None


def train_round(cfg: LoopConfig, lake: Lake, r: int, policy: str, splits: dict, trainers: list[str],
                log) -> tuple[str, list[str]]:
    """Each trainer in turn from the last checkpoint; one without rows in its split is skipped.
    A DMT split trains its two stages in turn (flows/training.py train_split)."""
    from flows.training import train_split

    checkpoint, run_ids = policy, []
    for trainer in trainers:
        kind = trainer_spec(trainer).split_kind
        split = splits.get(kind)
        if split is None:
            log(f"  {trainer}: round {r} has no {kind} rows; skipped")
            continue
        log(f"  train {trainer} on {split['name']} v{split['version']} ({split['rows']} rows) from {checkpoint}")
        tcfg = train_config(cfg, trainer, r, checkpoint, split["name"], split["version"])
        results = train_split(trainer, tcfg, lake, parent=cfg.name, run_id=run_id(cfg, r, trainer))
        checkpoint = str(Path(results[-1][0].checkpoint).resolve())
        run_ids += [result.run_id for result, _ in results]
    return checkpoint, run_ids


def train_config(cfg: LoopConfig, trainer: str, r: int, model: str, split: str, version: int | None):
    """The trainer's config for round r: its YAML and options, then the round's split, model, out."""
    from trainers.config import load_config

    out = (cfg.work_dir / run_id(cfg, r, trainer)).resolve()  # the folder name is the policy's model name
    values = {**cfg.train.options.get(trainer, {}), "split": split, "version": version, "model": model,
              "out": str(out)}
    return load_config(trainer, cfg.train.configs.get(trainer), values)


def evaluate_round(cfg: LoopConfig, lake: Lake, r: int, row: dict, eval_prompts: pa.Table,
                   score_in: float | None) -> dict:
    """Held-out scores of the round's checkpoint (and of the policy it started from, when that
    was not scored yet: the base model on round 0)."""
    models = [row["checkpoint"]] + ([row["policy_in"]] if score_in is None else [])
    curate_cfg = curate_config(cfg, r, None)  # backend, its options and the prompt format
    scores, evals = {}, []
    for model in dict.fromkeys(models):
        score = score_model(cfg, curate_cfg, model, eval_prompts)
        scores[model] = score.accuracy
        evals += [{"loop_id": cfg.name, "round": r, "model": model, "task": task, "n": n, "n_correct": c,
                   "pass_rate": c / n} for task, (n, c) in score.per_task.items()]
    lake.commit({"loop_evals": evals}, run_id=cfg.name)
    before = scores[row["policy_in"]] if score_in is None else score_in
    return {"eval_pass_rate": scores[row["checkpoint"]], "eval_pass_rate_in": before}


def score_model(cfg: LoopConfig, curate_cfg, model: str, eval_prompts: pa.Table):
    """Load `model` with the curate backend and score it on the held-out prompts."""
    from curation.backends import Sampling, load_backend
    from flows.heldout import evaluate
    from flows.progress import stage_bar

    sampling = Sampling(k=1, temperature=cfg.eval.temperature, max_tokens=cfg.eval.max_tokens, seed=cfg.eval.seed)
    backend = load_backend(curate_cfg.backend, model, seed=cfg.eval.seed, options=curate_cfg.backend_options)
    try:
        with stage_bar(f"eval {Path(model).name}", eval_prompts.num_rows) as advance:
            return evaluate(backend, eval_prompts, curate_cfg.prompt_format, sampling, progress=advance)
    finally:
        backend.close()


def previous_rounds(lake: Lake, cfg: LoopConfig) -> dict[int, dict]:
    """This loop's rounds so far; a ConfigError if it ran before with another config."""
    if not lake.exists():
        return {}
    runs = lake.query(f"SELECT config FROM runs WHERE run_id = {literal(cfg.name)} AND kind = 'loop'").to_pylist()
    if runs:
        before, now_ = json.loads(runs[0]["config"]), json.loads(public_config(cfg))
        before["lake"] = public_location(before.get("lake") or "")  # rows of older versions held it raw
        changed = sorted(k for k in set(before) | set(now_) if k not in RESUMABLE_KEYS and before.get(k) != now_.get(k))
        if changed:
            raise ConfigError(f"loop '{cfg.name}' already ran in {lake} with other settings "
                              f"({', '.join(changed)} changed); give it a new name to start afresh")
    table = lake.query(f"SELECT * FROM loop_rounds WHERE loop_id = {literal(cfg.name)}")
    return {row["round"]: row for row in table.to_pylist()}


def save_round(lake: Lake, row: dict) -> None:
    lake.commit({"loop_rounds": [row]}, run_id=row["loop_id"])


def run_id(cfg: LoopConfig, r: int, stage: str) -> str:
    return f"{cfg.name}-r{r}-{stage}"


def now() -> datetime:
    return datetime.now(timezone.utc)
