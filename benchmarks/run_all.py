"""Run every benchmark at modest sizes, collect benchmarks/results.json, print a markdown table.

Each benchmark runs in its own process and prints one JSON line; this turns each line into
entries {name, ours, reference, unit, ratio (ours / reference), better, machine, date}. A
benchmark that fails or times out becomes an entry with its error, and the rest still run.
Benchmarks are not tests: they do not run in CI, except decontam_recall and scaling at their
`--smoke` sizes (tests/benchmarks), which checks their output, not their numbers.

    .venv/bin/python benchmarks/run_all.py [--only dedup sql_rollouts] [--skip generation] [--full]
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
# modest sizes (a few minutes each on a 2-core CPU); --full runs each benchmark's own defaults
MODEST = {
    "generation": [],  # fixed sizes: 64 prompts x 4 samples (vLLM), 8 prompts (HF)
    "training": ["--steps", "4", "--batch-size", "4", "--max-length", "256", "--threads", "1"],
    "training_memory": ["--batch-size", "8", "--threads", "1"],
    "dedup": ["--docs", "100000", "--datasketch-docs", "10000", "--sample", "2000"],
    "orchestration": [],
    "sql_rollouts": ["--rows", "10000000", "--prompts", "100000"],
    "adaptive_sampling": ["--backend", "vllm", "--prompts", "32", "--max-tokens", "96"],
    "skill_methods": [],  # the demo's prompts and settings, 12 synthesized questions
    "decontam_recall": [],  # full sizes (configs/bench.yaml); about 5 minutes, most of it MiniLM
    "scaling": [],  # full sizes (configs/bench.yaml): 10k-1M prompts, 1M-10M verdict rows; about an hour
}
TIMEOUTS = {"scaling": 4 * 3600}  # seconds, where --timeout is too short


def entry(name: str, ours, reference, unit: str, better: str, note: str = "") -> dict:
    """One comparison; ratio is ours / reference whatever the unit (`better` says which way is good)."""
    ratio = round(ours / reference, 3) if ours is not None and reference else None
    return {"name": name, "ours": ours, "reference": reference, "unit": unit, "ratio": ratio, "better": better,
            "note": note}


def from_generation(r: dict) -> list[dict]:
    return [entry("generation: warmstart generate stage vs raw vLLM (same engine)", r["ours_vllm_tok_s"],
                  r["raw_vllm_tok_s"], "tokens/s", "higher"),
            entry("generation: warmstart (vLLM) vs HF transformers generate", r["ours_vllm_tok_s"], r["hf_tok_s"],
                  "tokens/s", "higher")]


def from_training(r: dict) -> list[dict]:
    out = []
    for trainer, rival in (("sft", "SFTTrainer"), ("dpo", "DPOTrainer")):
        out.append(entry(f"training: warmstart {trainer.upper()} vs TRL {rival}",
                         r[f"{trainer}_warmstart_tokens_per_s"], r[f"{trainer}_trl_tokens_per_s"], "tokens/s",
                         "higher", f"{r['steps']} steps, batch {r['batch_size']}, {r['device']}"))
        if f"{trainer}_warmstart_peak_mem_mb" in r:
            out.append(entry(f"training: {trainer.upper()} peak memory vs TRL", r[f"{trainer}_warmstart_peak_mem_mb"],
                             r[f"{trainer}_trl_peak_mem_mb"], "MB", "lower"))
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
    accuracy = r["accuracy_vs_exact_jaccard"]
    return [entry("dedup: warmstart near-dup vs rensa (incl. shingling)", r["warmstart_docs_per_s"],
                  r["rensa_docs_per_s"], "docs/s", "higher", f"{r['docs']} docs"),
            entry("dedup: warmstart near-dup vs datasketch", r["warmstart_docs_per_s"], r["datasketch_docs_per_s"],
                  "docs/s", "higher", f"datasketch on {r['datasketch_docs']} docs"),
            entry("dedup: recall of exact-Jaccard drops, warmstart vs rensa", accuracy["warmstart"]["recall"],
                  accuracy["rensa"]["recall"], "recall", "higher", f"{r['sample_docs']}-doc sample")]


def from_orchestration(r: dict) -> list[dict]:
    return [entry("orchestration: Prefect curate flow vs the same steps called directly", r["flow_s"],
                  r["direct_s"], "s", "lower", f"{r['prompts']} prompts, canned backend")]


def from_sql(r: dict) -> list[dict]:
    return [entry("sql_rollouts: Lake SQL vs polars (pass rate per prompt)", r["ours_s"], r["polars_s"], "s",
                  "lower", f"{r['rows']:,} verdict rows"),
            entry("sql_rollouts: Lake SQL vs pandas", r["ours_s"], r["pandas_s"], "s", "lower",
                  f"{r['rows']:,} verdict rows")]


def from_adaptive(r: dict) -> list[dict]:
    same = r["adaptive_same_samples"]
    return [entry("adaptive_sampling: tokens per kept RL prompt, adaptive k vs fixed k", same["tokens_per_kept"],
                  r["fixed_k"]["tokens_per_kept"], "tokens/prompt", "lower",
                  f"{r['prompts']} prompts, max_k {r['max_k']}"),
            entry("adaptive_sampling: kept RL prompts recalled vs fixed k", same["kept_recall_vs_fixed"], 1.0,
                  "recall", "higher")]


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


EXTRACT = {"generation": from_generation, "training": from_training, "training_memory": from_training_memory,
           "dedup": from_dedup,
           "orchestration": from_orchestration, "sql_rollouts": from_sql, "adaptive_sampling": from_adaptive,
           "skill_methods": from_skill_methods, "decontam_recall": from_decontam, "scaling": from_scaling}


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


def table(entries: list[dict]) -> str:
    rows = ["| benchmark | ours | reference | unit | ratio (ours/ref) | better |", "|---|---|---|---|---|---|"]
    for e in entries:
        if e.get("error"):
            rows.append(f"| {e['name']} | — | — | — | — | failed: {e['error'][:80]} |")
            continue
        rows.append(f"| {e['name']} | {_number(e['ours'])} | {_number(e['reference'])} | {e['unit']} | "
                    f"{_number(e['ratio'])} | {e['better']} |")
    return "\n".join(rows)


def _number(value) -> str:
    return "—" if value is None else f"{value:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(EXTRACT),
                        help="run just these; the others' entries in --out are kept")
    parser.add_argument("--skip", nargs="+", choices=list(EXTRACT), default=[], help="leave these out")
    parser.add_argument("--full", action="store_true", help="each benchmark's default (large) sizes")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per benchmark")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    names = [n for n in (args.only or EXTRACT) if n not in args.skip and (HERE / f"{n}.py").exists()]
    stamp = {"machine": machine(), "date": date.today().isoformat()}
    entries, raw = [], {}
    for name in names:
        print(f"[run_all] {name} ...", file=sys.stderr, flush=True)
        load = os.getloadavg()[0]
        timeout = max(args.timeout, TIMEOUTS.get(name, 0))
        result, error, seconds = run_one(name, [] if args.full else MODEST[name], timeout)
        raw[name] = result or {"error": error}
        context = {**stamp, "benchmark": name, "seconds": round(seconds, 1), "load_avg_start": round(load, 1)}
        if result is None:
            entries.append({"name": name, "error": error, **context})
            continue
        entries.extend({**e, **context} for e in EXTRACT[name](result))
    sizes = {n: "full" if args.full else MODEST[n] for n in names}
    if args.only and args.out.exists():  # keep the other benchmarks' last results
        before = json.loads(args.out.read_text())
        entries = [e for e in before.get("entries", []) if e.get("benchmark") not in names] + entries
        raw = {**{k: v for k, v in before.get("raw", {}).items() if k not in names}, **raw}
        sizes = {**{k: v for k, v in (before.get("sizes") or {}).items() if k not in names}, **sizes}
    args.out.write_text(json.dumps({**stamp, "sizes": sizes, "entries": entries, "raw": raw},
                                   indent=1, default=str) + "\n")
    print(table(entries))


if __name__ == "__main__":
    main()
