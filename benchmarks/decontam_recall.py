"""Decontamination recall: which injected eval leaks each rule catches, and which clean prompts it drops.

Leaks of every eval item (the bundled data/eval sets plus a GSM-style word-problem set loaded as
a user file): verbatim copies, copies embedded in a longer prompt, re-wrapped copies (whitespace,
punctuation, numbering, case), copies with changed numbers, and hand-written paraphrases
(benchmarks/decontam_leaks.py). Clean prompts: fresh prompts of the same tasks with training
seeds (those that happen to equal an eval item are counted apart, as `coincident`, a real leak)
and prompts of unrelated reasoning-gym tasks. Each setting of configs/bench.yaml runs
curation/decontam.py on the whole mix; recall is the share of a category's prompts dropped,
the false-positive rate the share of clean prompts dropped. Writes benchmarks/decontam_recall.json
and docs/decontam.md at full size; prints one JSON line.

    python benchmarks/decontam_recall.py [--smoke] [--config configs/bench.yaml]
"""

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from benchmarks import decontam_leaks as leaks  # noqa: E402
from benchmarks.bench_config import RecallSizes, describe_machine, load_bench_config  # noqa: E402
from curation import text_stats  # noqa: E402
from curation.decontam import DecontamConfig, decontaminate  # noqa: E402
from curation.difficulty import wilson_interval  # noqa: E402
from flows.eval_sets import bundled_dir, load_eval_sets  # noqa: E402

CLEAN = ("clean_same_task", "clean_unrelated")
RESULT = ROOT / "benchmarks" / "decontam_recall.json"


class CachedEmbedder:
    """Encodes each distinct text once across settings (MiniLM is the slow part here)."""

    def __init__(self, embedder):
        self.embedder, self.vectors = embedder, {}

    def encode(self, texts: list[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if new:
            self.vectors.update(zip(new, self.embedder.encode(new)))
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)


def build_mix(sizes: RecallSizes, work: Path) -> tuple[dict, list[tuple[str, str, str]]]:
    """(eval sets as the curate flow loads them, [(category, benchmark or task, text)])."""
    items = leaks.bundled_items(bundled_dir())
    gsm_items, gsm_clean = leaks.gsm_eval_and_clean(sizes.gsm_eval, sizes.gsm_clean, sizes.seed + 9100)
    gsm_file = work / f"{leaks.GSM_TASK}.jsonl"  # a user eval file, read by the loader the flow uses
    gsm_file.write_text("".join(json.dumps({"question": i.text}) + "\n" for i in gsm_items), encoding="utf-8")
    eval_sets = load_eval_sets(["bundled", gsm_file])
    rows = [(leak.category, leak.item.benchmark, leak.text)
            for leak in leaks.make_leaks(items + gsm_items, random.Random(sizes.seed), sizes.paraphrases_per_item)]
    tasks = sorted({item.benchmark for item in items})
    same = leaks.same_task_prompts(tasks, sizes.same_task_per_task, sizes.seed + 1)
    same[leaks.GSM_TASK] = gsm_clean
    for task, texts in same.items():
        identical = set(text_stats.sequence_hashes(eval_sets[task]).tolist())
        for text, whole in zip(texts, text_stats.sequence_hashes(texts).tolist()):
            rows.append(("coincident" if whole in identical else "clean_same_task", task, text))
    gcd_config = {"min_numbers": 2, "max_numbers": 2, "max_value": 20}
    for task, texts in leaks.unrelated_prompts(sizes.unrelated_per_task, sizes.seed + 2, gcd_config).items():
        rows += [("clean_unrelated", task, text) for text in texts]
    return eval_sets, rows


def score(rows: list[tuple], dropped: np.ndarray) -> dict:
    """Share dropped per category (recall for leaks, false-positive rate for clean prompts),
    with a 95% Wilson interval, and per benchmark or task."""
    category = np.array([r[0] for r in rows])
    source = np.array([r[1] for r in rows])
    out = {}
    for name in leaks.CATEGORIES + ("coincident",) + CLEAN:
        mine = category == name
        hits, n = int(dropped[mine].sum()), int(mine.sum())
        low, high = wilson_interval(hits, n) if n else (0.0, 0.0)
        by_source = {s: round(float(dropped[mine & (source == s)].mean()), 3) for s in sorted(set(source[mine]))}
        out[name] = {"rate": round(hits / n, 4) if n else None, "n": n, "ci95": [round(low, 4), round(high, 4)],
                     "by_source": by_source}
    return out


def run_setting(setting, eval_sets: dict, rows: list[tuple], embedder) -> dict:
    """Decontaminate the whole mix under one setting; its scores and seconds."""
    cfg = DecontamConfig(**setting.config)
    table = pa.table({"prompt_id": [str(i) for i in range(len(rows))], "prompt": [r[2] for r in rows]})
    started = time.perf_counter()
    result = decontaminate(table, cfg, eval_sets=eval_sets, embedder=embedder if cfg.paraphrase else None)
    seconds = time.perf_counter() - started
    dropped = np.zeros(len(rows), bool)
    dropped[np.asarray(result.dropped.column("record_id").to_pylist(), dtype=np.int64)] = True
    return {"name": setting.name, "config": setting.config, "seconds": round(seconds, 2),
            "scores": score(rows, dropped)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "bench.yaml")
    parser.add_argument("--smoke", action="store_true", help="CI-sized: few prompts, no embedding model")
    args = parser.parse_args()
    sizes = load_bench_config(args.config, smoke=args.smoke).decontam_recall
    with tempfile.TemporaryDirectory() as work:
        eval_sets, rows = build_mix(sizes, Path(work))
    settings = [s for s in sizes.settings if sizes.embedding or "paraphrase" not in s.config]
    embedder = None
    if sizes.embedding:
        from curation.embeddings import load_minilm

        embedder = CachedEmbedder(load_minilm())
    results = [run_setting(s, eval_sets, rows, embedder) for s in settings]
    counts = {name: sum(r[0] == name for r in rows) for name in leaks.CATEGORIES + ("coincident",) + CLEAN}
    result = {"benchmark": "decontam_recall", "smoke": args.smoke, "machine": describe_machine(),
              "eval_items": {name: len(texts) for name, texts in sorted(eval_sets.items())},
              "counts": counts, "default": DecontamConfig().model_dump(exclude={"sources"}), "settings": results}
    if not args.smoke:
        from benchmarks.decontam_report import write_report

        RESULT.write_text(json.dumps(result, indent=1) + "\n")
        write_report(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
