"""What every curation method changes, measured: docs/methods.json, rendered as docs/methods.md.

For each method in METHODS, a curate run of configs/demo.yaml with the method on and one with it
off (the demo's own setting is one of the two; identical configs run once), each on a fresh lake,
each with a fresh engine loaded with the same seed. Per method: rows of each split with the method off and on and
how many rows came in and went out (by row id), the splits' mix (task, difficulty bucket, origin,
pair kind, curriculum stage), drops per step, other tables' rows, and the cost: seconds of the
run and tokens generated (counted at the engine, so probes, rollouts and judge calls count).

    python benchmarks/methods_report.py                  # full: demo config, bundled model, vLLM
    python benchmarks/methods_report.py --quick          # the tests' fake policy, 8 prompts a task
    python benchmarks/methods_report.py --only "quality filters,decontamination"
    python benchmarks/methods_report.py --render         # docs/methods.md from docs/methods.json

Adding a method is one `Method(...)` entry below; one whose switch does not exist yet is
declared with `pending=` (why) and shown as such, never measured by a stand-in.
"""

import argparse
import copy
import json
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from benchmarks.methods_measure import CountingBackend, compare, measure, quick_policy  # noqa: E402
from benchmarks.methods_render import render  # noqa: E402

DEMO = ROOT / "configs" / "demo.yaml"
JSON_PATH, MD_PATH = ROOT / "docs" / "methods.json", ROOT / "docs" / "methods.md"
QUICK_COUNT = 8  # prompts per reasoning-gym task in --quick


@dataclass(frozen=True)
class Method:
    """One curation method: what it follows, where it lives, and the `--set` overrides of the demo
    config that turn it off and on (empty: the demo's own setting). `config` names the README
    method table's config keys it stands for; `before` are runs made first on the 'on' lake."""

    name: str
    paper: str
    where: str
    config: tuple[str, ...]
    off: tuple[str, ...] = ()
    on: tuple[str, ...] = ()
    before: tuple[tuple[str, ...], ...] = ()
    pending: str = ""
    note: str = ""


NO_PAPER = "none: standard data hygiene"
ALL_BUCKETS = "curriculum.stage_buckets=[[solved, easy], [medium], [hard, unsolved]]"
METHODS = [
    Method("quality filters", NO_PAPER, "curation/filters.py", ("quality",), off=("quality=null",)),
    Method("exact and near dedup", NO_PAPER, "curation/dedup.py, minhash.py", ("dedup",),
           off=("dedup.exact=null", "dedup.near=null", "dedup.responses=false")),
    Method("decontamination", NO_PAPER, "curation/decontam.py", ("decontam",), off=("decontam=null",)),
    Method("adaptive sampling", "none: warmstart's stop rule (Wilson interval, give-up prior)",
           "curation/adaptive.py", ("adaptive",), on=("adaptive={initial_k: 2, round_k: 2, max_k: 4}",)),
    Method("RL filter 0 < pass rate < 1", "ReFT; QwenLong-L1; SARI", "curation/difficulty.py", ("rl_filter",),
           off=("rl_filter=null", ALL_BUCKETS), on=(ALL_BUCKETS,),
           note="both runs stage solved prompts with the easy ones and unsolved with the hard ones, which "
                "only the unfiltered run has"),
    Method("difficulty on the Wilson lower bound", "ReFT; QwenLong-L1 (pass-rate difficulty)",
           "curation/difficulty.py", ("difficulty.estimate",), on=("difficulty.estimate=wilson_lower",)),
    Method("pooled difficulty ledger", "QwenLong-L1; iTool (difficulty re-ranked across runs)",
           "curation/difficulty_ledger.py", ("difficulty.pooled",), on=("difficulty.pooled=true",),
           before=(("sampling.seed=1",),), note="'on' runs after a first run at sampling seed 1 on its lake"),
    Method("curriculum + retrospective sampling", "QwenLong-L1; SARI; iTool", "curation/curriculum.py",
           ("curriculum", "retrospective"), off=("curriculum.enabled=false",),
           note="GRPO's `retrospective` re-draws replays while training; this measures the curated schedule"),
    Method("temperature for a target entropy", "AceReason-Nemotron 1.1", "curation/temperature.py",
           ("sampling.temperature: auto",), on=("sampling.temperature=auto",)),
    Method("skill tagging (MiniLM)", "STAT (skill labels); Instruct-SkillMix", "curation/skill_tagging.py",
           ("skills", "skills.tagging", "skills.merge"), on=("skills.tagging=embedding", "skills.merge=true")),
    Method("model skill extraction", "STAT (teacher skill list); Instruct-SkillMix (skill extraction)",
           "curation/skill_extraction.py", ("skills.extract", "skills.inventory"), off=("skills.extract=null",)),
    Method("STAT-Sel (missing-skill weights)", "STAT: Skill-Targeted Adaptive Training", "curation/skill_profile.py",
           ("skills.profile",), off=("skills.profile.boost=0",)),
    Method("skill-pair synthesis", "STAT-Syn; Instruct-SkillMix", "curation/skill_synthesis.py",
           ("skills.synthesis",), off=("skills.synthesis=null",)),
    Method("budget and quotas", "Balancing the Budget (SFT vs preference)", "curation/mixing.py", ("mix",),
           on=("mix.budget=60", "mix.quotas.per_task={'*': 0.3}")),
    Method("DMT two-stage SFT", "DMT: How Abilities in LLMs are Affected by SFT Data Composition",
           "curation/mixing.py", ("mix", "mix.dmt"), on=("mix.dmt={enabled: true, specialist_tasks: [chain_sum]}",)),
    Method("trace filter (backtracks)", "How Much Backtracking is Enough?", "curation/traces.py",
           ("traces", "trace_filter"), on=("trace_filter={min_backtracks: 1}",)),
    Method("step-level preference pairs", "iTool (step-level pairs)", "curation/step_pairs.py", ("step_pairs",),
           off=("step_pairs=null",)),
    Method("LLM-judge pairs", "LLM-as-judge (unverifiable prompts)", "curation/judge.py", ("judge",),
           on=("judge={}",), note="only prompts without a verifier get judge pairs"),
]


def base_config(quick: bool, count: int | None = None) -> dict:
    """configs/demo.yaml as a mapping, with `count` prompts a task if given; --quick: on the fake
    policy, QUICK_COUNT prompts a task unless `count` says otherwise."""
    raw = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    count = count or (QUICK_COUNT if quick else None)
    for source in raw["sources"] if count else []:
        source["count"] = count
    if quick:
        raw.update(backend="openai", model="fake-policy", backend_options={})
        raw["skills"]["synthesis"]["n_prompts"] = 4
    return raw


def config_for(base: dict, overrides: tuple[str, ...], lake: Path):
    """The validated curate config: base + overrides, on `lake`."""
    from flows.config import validate
    from schemas.config import apply_overrides

    return validate(apply_overrides(copy.deepcopy(base), [*overrides, f"lake={lake}"]), "demo + overrides")


class Runner:
    """Runs conditions on fresh lakes, each with a fresh token-counting engine loaded with the same
    seed, so two runs that ask for the same samples get the same ones whatever ran before (vLLM's
    CPU build takes no per-request seeds); each config once. `backend` is the current run's engine."""

    def __init__(self, base: dict, new_engine, workdir: Path):
        self.base, self.new_engine, self.workdir, self.done = base, new_engine, workdir, {}
        self.backend = None

    def fresh_engine(self) -> None:
        """Close the last run's engine and load a new one."""
        self.close()
        self.backend = self.new_engine()

    def close(self) -> None:
        if self.backend is not None:
            self.backend.inner.close()
            self.backend = None

    def warm_up(self) -> None:
        """One unrecorded run first: the Prefect API and the embedder start here, not inside the
        first measured run."""
        from flows.curate import run_curation

        self.fresh_engine()
        run_curation(config_for(self.base, (), self.workdir / "warm-up"))

    def result(self, overrides: tuple[str, ...], before: tuple[tuple[str, ...], ...] = ()) -> dict:
        key = json.dumps([sorted(overrides), [sorted(b) for b in before]])
        if key not in self.done:
            self.done[key] = self._run(overrides, before, self.workdir / f"lake{len(self.done)}")
        return self.done[key]

    def _run(self, overrides, before, lake: Path) -> dict:
        from flows.curate import run_curation
        from schemas.lake import Lake

        self.fresh_engine()
        for earlier in before:
            run_curation(config_for(self.base, earlier, lake))
        self.backend.reset()
        summary = run_curation(config_for(self.base, overrides, lake))
        return {**measure(Lake(lake), summary.run_id), "seconds": round(summary.seconds, 2),
                "tokens": self.backend.tokens, "completions": self.backend.completions}


def method_entry(method: Method, runner: Runner | None) -> dict:
    """The JSON record of one method: its declaration, and when measured its off/on comparison."""
    entry = {"name": method.name, "paper": method.paper, "where": method.where, "config": list(method.config),
             "off": list(method.off), "on": list(method.on), "note": method.note}
    if method.pending:
        return {**entry, "status": "pending", "pending": method.pending}
    off, on = runner.result(method.off), runner.result(method.on, method.before)
    return {**entry, "status": "measured", "changes": compare(off, on)}


def backend_factory(base: dict, quick: bool):
    """What builds each run's engine, wrapped to count tokens: vLLM (or the config's backend) on the
    bundled model, or with --quick the deterministic fake policy of the tests (its answers read once)."""
    if quick:
        from flows.config import validate
        from flows.sources import load_prompts

        answers = {p["prompt"]: p["answer"] for p in load_prompts(validate(base).sources).to_pylist()}
        return lambda: CountingBackend(quick_policy(dict(answers)))  # a fresh copy: the policy learns answers it writes
    from curation.backends.factory import load_backend  # the package's name is patched to return runner.backend

    return lambda: CountingBackend(load_backend(base["backend"], base["model"], seed=base["sampling"]["seed"],
                                                options=base.get("backend_options")))


def run_methods(methods: list[Method], quick: bool, count: int | None = None, command: str = "") -> dict:
    """Measure every method; the report's JSON (with how, where and when it was made)."""
    import curation.backends

    base = base_config(quick, count)
    original = curation.backends.load_backend
    with tempfile.TemporaryDirectory(prefix="methods-") as tmp:
        runner = Runner(base, backend_factory(base, quick), Path(tmp))
        curation.backends.load_backend = lambda *args, **kwargs: runner.backend
        try:
            runner.warm_up()
            entries = [method_entry(m, None if m.pending else runner) for m in methods]
        finally:
            curation.backends.load_backend = original
            runner.close()
    return {"generated": {"date": date.today().isoformat(), "mode": "quick" if quick else "full",
                          "config": "configs/demo.yaml" + (f" ({base['sources'][0]['count']} prompts a task)"
                                                           if quick or count else ""),
                          "backend": base["backend"], "model": base["model"],
                          "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                          "command": command},
            "methods": entries}


def write(report: dict, json_path: Path, md_path: Path) -> None:
    json_path.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    md_path.write_text(render(report), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the tests' fake policy, a few prompts (seconds)")
    parser.add_argument("--only", help="comma-separated method names (default: all)")
    parser.add_argument("--count", type=int, help=f"prompts per task (default: the demo's; {QUICK_COUNT} with --quick)")
    parser.add_argument("--render", action="store_true", help="only render --md from --json")
    parser.add_argument("--json", type=Path, default=JSON_PATH)
    parser.add_argument("--md", type=Path, default=MD_PATH)
    args = parser.parse_args(argv)
    if args.render:
        args.md.write_text(render(json.loads(args.json.read_text(encoding="utf-8"))), encoding="utf-8")
        return 0
    wanted = set(args.only.split(",")) if args.only else {m.name for m in METHODS}
    unknown = wanted - {m.name for m in METHODS}
    if unknown:
        parser.error(f"unknown method(s) {sorted(unknown)}; known: {[m.name for m in METHODS]}")
    flags = [*(["--quick"] if args.quick else []), *(["--count", str(args.count)] if args.count else []),
             *(["--only", f"'{args.only}'"] if args.only else [])]
    report = run_methods([m for m in METHODS if m.name in wanted], args.quick, args.count,
                         " ".join(["python benchmarks/methods_report.py", *flags]))
    write(report, args.json, args.md)
    print(json.dumps({"benchmark": "methods", "mode": report["generated"]["mode"],
                      "methods": {e["name"]: e.get("changes", {}).get("cost", e["status"]) for e in report["methods"]}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
