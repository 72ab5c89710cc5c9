"""What the model-driven skill methods cost next to the generate stage, on the demo's prompts.

Prints one JSON line. One engine (the demo's backend and model) does, in turn: the generate
stage's sampling (configs/demo.yaml: k, max_tokens) on the demo's prompts; skill extraction
(the demo's `skills.extract`) on the same prompts; model synthesis of `--questions` questions for
the weakest pairs of a profile of the four tasks (their pass rates from the generations), with
its agreement answers. Seconds are wall time, so they say what the methods add to a demo run
on this machine; the machine line and the load average say what ran it.

    .venv/bin/python benchmarks/skill_methods.py [--backend vllm] [--questions 12]
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import pyarrow as pa

os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # stdout carries the JSON line only
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def task_profile(prompts: list[dict], replies) -> pa.Table:
    """A skill_profile of one skill per task: the share of verified-correct samples."""
    from curation.verifiers import verify

    per_task: dict[str, list[int]] = {}
    for row, completions in zip(prompts, replies):
        meta = json.loads(row["metadata"] or "{}")
        right = sum(verify(row["verifier"], c.text, row["answer"], meta, question=row["prompt"]).correct
                    for c in completions)
        counts = per_task.setdefault(row["task"], [0, 0, 0])
        counts[0] += 1
        counts[1] += right
        counts[2] += len(completions)
    return pa.Table.from_pylist([{"skill_id": task, "name": task.replace("_", " "), "n_prompts": n,
                                  "pass_rate": right / samples, "run_id": "benchmark"}
                                 for task, (n, right, samples) in sorted(per_task.items())])


def timed(run):
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def main() -> None:
    from curation import generate
    from curation.backends import load_backend
    from curation.backends.base import Sampling
    from curation.skill_extraction import ask_for_skills
    from curation.skill_synthesis import SkillSynthesisConfig
    from curation.skill_writing import synthesize_for_profile
    from flows.config import load_config
    from flows.sources import load_prompts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None, help="default: the demo's")
    parser.add_argument("--questions", type=int, default=12, help="questions model synthesis writes")
    args = parser.parse_args()
    cfg = load_config(ROOT / "configs" / "demo.yaml")
    prompts = load_prompts(cfg.sources).to_pylist()
    texts = [p["prompt"] for p in prompts]
    load_avg = os.getloadavg()[0]
    load_s, backend = timed(lambda: load_backend(args.backend or cfg.backend, cfg.model, seed=0,
                                                 options=cfg.backend_options))
    try:
        sampling = Sampling(**cfg.sampling.model_dump())
        chats = [generate.conversation(t, cfg.prompt_format) for t in texts]
        generate_s, replies = timed(lambda: backend.generate(chats, sampling.k, sampling))
        extract_s, _ = timed(lambda: ask_for_skills(backend, texts, cfg.skills.extract))
        synthesis = SkillSynthesisConfig(mode="model", n_prompts=args.questions, pairs=4)
        synthesis_s, made = timed(lambda: synthesize_for_profile(backend, task_profile(prompts, replies), synthesis,
                                                                 cfg.prompt_format))
    finally:
        backend.close()
    print(json.dumps({"prompts": len(prompts), "k": sampling.k, "generate_s": round(generate_s, 1),
                      "extract_s": round(extract_s, 1), "extract_votes": cfg.skills.extract.votes,
                      "synthesis_questions": args.questions, "synthesis_s": round(synthesis_s, 1),
                      "synthesis_kept": made.kept.num_rows, "engine_load_s": round(load_s, 1),
                      "backend": args.backend or cfg.backend, "load_avg_start": round(load_avg, 1),
                      "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores"}))


if __name__ == "__main__":
    main()
