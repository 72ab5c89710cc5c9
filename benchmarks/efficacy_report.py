"""Statistics and the markdown/PNG report of benchmarks/efficacy.py (no training, no I/O but the report)."""

import math
import os
import platform
import statistics
from datetime import date
from pathlib import Path

CONDITIONS = ["base", "sft_uncurated", "sft_curated", "grpo", "dpo"]
LABELS = {"base": "1. base (no training)", "sft_uncurated": "2. SFT, uncurated split",
          "sft_curated": "3. SFT, curated warm-up split", "grpo": "4. (3) + GRPO on the RL split",
          "dpo": "5. (3) + DPO on preference pairs"}
COMPARISONS = [("sft_curated", "sft_uncurated"), ("sft_curated", "base"), ("sft_uncurated", "base"),
               ("grpo", "sft_curated"), ("dpo", "sft_curated")]
# two-sided 95% Student t quantiles by degrees of freedom
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def t_interval(values: list[float]) -> tuple[float, float]:
    """Mean and 95% half-width over seeds (Student t); half-width 0 for a single value."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))


def wilson(hits: float, n: int) -> tuple[float, float]:
    """95% Wilson interval of a proportion (prompt sampling noise, all seeds pooled)."""
    if n == 0:
        return 0.0, 0.0
    z, p = 1.96, hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def summarize(state: dict, seeds: list[int]) -> dict:
    """Per condition: accuracy mean and CIs, per-task means, tokens and wall time (means over seeds)."""
    summary = {}
    for condition in CONDITIONS:
        runs = [state[f"{condition}/{s}"] for s in seeds if state.get(f"{condition}/{s}")]
        if not runs:
            continue
        accuracies = [r["accuracy"] for r in runs]
        mean, half = t_interval(accuracies)
        n = sum(r["n"] for r in runs)
        low, high = wilson(sum(r["accuracy"] * r["n"] for r in runs), n)
        tasks = runs[0]["per_task"]
        summary[condition] = {
            "seeds": len(runs), "accuracy": mean, "ci95_seeds": half, "wilson95": [low, high],
            "per_seed": accuracies, "per_task": {t: statistics.fmean(r["per_task"][t] for r in runs) for t in tasks},
            "tokens": statistics.fmean(r["tokens"] for r in runs),
            "train_seconds": statistics.fmean(r["seconds"] for r in runs),
            "eval_seconds": statistics.fmean(r["eval_seconds"] for r in runs),
            "answer_tokens": statistics.fmean(r["mean_tokens"] for r in runs)}
    return summary


def paired(state: dict, seeds: list[int], a: str, b: str) -> tuple[float, float, int] | None:
    """Mean difference a - b over seeds both finished, its 95% half-width, and the seed count."""
    diffs = [state[f"{a}/{s}"]["accuracy"] - state[f"{b}/{s}"]["accuracy"] for s in seeds
             if state.get(f"{a}/{s}") and state.get(f"{b}/{s}")]
    if not diffs:
        return None
    mean, half = t_interval(diffs)
    return mean, half, len(diffs)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def results_table(summary: dict) -> list[str]:
    lines = ["| condition | seeds | accuracy % | 95% CI (seeds) | 95% CI (Wilson, pooled) | "
             "tokens trained | train wall s | answer tokens | " + " | ".join(TASK_SHORT.values()) + " |",
             "|---|---|---|---|---|---|---|---|" + "---|" * len(TASK_SHORT)]
    for condition, row in summary.items():
        low, high = row["wilson95"]
        tasks = " | ".join(_pct(row["per_task"].get(t, float("nan"))) for t in TASK_SHORT)
        lines.append(f"| {LABELS[condition]} | {row['seeds']} | {_pct(row['accuracy'])} | "
                     f"± {_pct(row['ci95_seeds'])} | {_pct(low)}–{_pct(high)} | {row['tokens']:,.0f} | "
                     f"{row['train_seconds']:.0f} | {row['answer_tokens']:.1f} | {tasks} |")
    return lines


TASK_SHORT = {"chain_sum": "chain_sum %", "gcd": "gcd %", "letter_counting": "letter_counting %",
              "basic_arithmetic": "basic_arithmetic %"}


def findings(state: dict, seeds: list[int]) -> list[str]:
    """One line per comparison, saying whether the seed CI of the difference excludes zero."""
    lines = []
    for a, b in COMPARISONS:
        result = paired(state, seeds, a, b)
        if result is None:
            continue
        mean, half, n = result
        verdict = ("CI excludes 0" if n > 1 and abs(mean) > half else
                   "not distinguishable from 0" if n > 1 else "one seed: no CI")
        lines.append(f"- {a} − {b}: {'+' if mean >= 0 else '−'}{_pct(abs(mean))} points "
                     f"(95% CI ± {_pct(half)}, {n} paired seed{'s' if n > 1 else ''}; {verdict})")
    return lines


def plot(summary: dict, path: Path) -> None:
    """Bar per condition (mean over seeds) with the seed CI, and the seeds as dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    means = [100 * summary[c]["accuracy"] for c in names]
    errors = [100 * summary[c]["ci95_seeds"] for c in names]
    ax.bar(range(len(names)), means, yerr=errors, capsize=4, color="#7aa6c2")
    for i, c in enumerate(names):
        ax.scatter([i] * len(summary[c]["per_seed"]), [100 * a for a in summary[c]["per_seed"]],
                   color="#1f3b4d", s=12, zorder=3)
    ax.set_xticks(range(len(names)), [c.replace("_", "\n") for c in names])
    ax.set_ylabel("held-out accuracy %")
    ax.set_title("SmolLM2-135M-Instruct, 4 reasoning-gym tasks (95% CI over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(path: Path, summary: dict, cfg, state: dict) -> None:
    """docs/results.md (and results.png beside it) from the finished runs so far."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if summary:
        plot(summary, path.with_suffix(".png"))
    curate = state.get("curate", {})
    uncurated = [state[k] for k in state if k.startswith("uncurated_tokens/")]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    text = [
        "# Curation efficacy", "",
        "Generated by `make efficacy` (`benchmarks/efficacy.py`, sizes in `configs/efficacy.yaml`); "
        "do not edit by hand.", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU; {platform.python_version()}; "
        f"date {date.today().isoformat()}; load average at writing {load} (shared machine: wall times "
        "are inflated and noisy)." + (f" Note: {state['note']}" if state.get("note") else ""), "",
        "## Setup", "",
        f"- Model: bundled SmolLM2-135M-Instruct. Tasks: chain_sum, gcd, letter_counting, basic_arithmetic "
        f"at the easy settings of `{cfg.curate.config}`; {cfg.curate.prompts_per_task} training prompts "
        f"per task, curated once (k samples, verify, hygiene, difficulty, splits) in "
        f"{curate.get('seconds', 0):.0f} s.",
        f"- Curated splits (rows): {curate.get('splits', {})}. The SFT split has "
        f"{curate.get('sft_prompts', '?')} of the {curate.get('train_prompts', '?')} train prompts (after "
        f"dedup and decontamination), answers by origin {curate.get('sft_origins', {})} (self: a verified-"
        f"correct sample of the model, shortest first; gold: the gold answer when no sample was correct); "
        f"{curate.get('sft_tokens', 0):,} tokens.",
        f"- Uncurated split, per seed: the same number of examples, random train prompts from the same pool, "
        f"each with its first sample, no verification or filtering; tokens per seed {uncurated}. When the "
        "curated split covers the whole pool, both splits hold the same prompts and differ only in the answers.",
        f"- Held-out eval: the first {cfg.eval.prompts_per_task} questions per task of data/eval/*.jsonl "
        f"(reasoning-gym seeds 9000+, decontaminated: {curate.get('eval_overlap', '?')} training prompts "
        f"equal an eval question), temperature {cfg.eval.temperature}, max {cfg.eval.max_tokens} tokens, "
        "verified by the same reasoning-gym verifiers as curation.",
        f"- Seeds {cfg.seeds} (training data order and sampling; eval sampling too when its temperature > 0). SFT {cfg.sft}; "
        f"GRPO {cfg.grpo}; DPO {cfg.dpo}.",
        "- Tokens trained and wall time are per seed and cumulative (GRPO and DPO include their SFT "
        "warm-up); wall time covers model loading and training, not evaluation. Answer tokens: mean "
        "length of the model's answers on the eval prompts.", "",
        "## Results", "", *results_table(summary), "", f"![accuracy per condition]({path.with_suffix('.png').name})",
        "", "Paired differences (same seed):", "", *findings(state, cfg.seeds), "",
        "## Limits", "",
        "- CPU budget: every size above is small (tens of prompts, a few optimizer steps), so effects "
        "of a few points are within noise. The sizes are a config: on a GPU raise "
        "`curate.prompts_per_task`, the trainer steps and `seeds` in configs/efficacy.yaml.",
        "- Answer format: the curated SFT targets are the shortest verified-correct sample or "
        "`Answer: <gold>`, so SFT on them also teaches a terse answer format (see the answer tokens "
        "column); part of a gain can come from answers the verifier extracts more reliably, not from "
        "better reasoning.",
        "- GRPO and DPO run a handful of optimizer steps at a small learning rate here: a null result "
        "for them says little about longer runs.",
        "- One curation run serves every seed (curation itself is seeded once); the uncurated split is "
        "redrawn per seed from the same post-dedup, decontaminated prompt pool.", ""]
    path.write_text("\n".join(text), encoding="utf-8")
