"""Sizes of the cost benchmarks (configs/bench.yaml): full sizes by default, `smoke:` overrides for CI."""

from pathlib import Path

from pydantic import Field

from schemas.config import StrictModel, merge_mappings, read_yaml, validate_model

class Setting(StrictModel):
    """One decontamination setting: a name for the table and DecontamConfig overrides."""

    name: str
    config: dict = Field(default_factory=dict)


class RecallSizes(StrictModel):
    """benchmarks/decontam_recall.py: how many leaks and clean prompts, and which settings."""

    seed: int = 0
    paraphrases_per_item: int = Field(3, ge=1, le=4, description="templates per item (tasks have 4)")
    same_task_per_task: int = Field(250, ge=1, description="fresh prompts per eval task (training seeds)")
    unrelated_per_task: int = Field(150, ge=1, description="prompts per unrelated reasoning-gym task")
    gsm_eval: int = Field(50, ge=2, le=85, description="GSM-style eval items (one per template)")
    gsm_clean: int = Field(300, ge=1, description="GSM-style clean prompts from the other templates")
    embedding: bool = Field(True, description="run the settings that need MiniLM (paraphrase rule)")
    settings: list[Setting] = Field(min_length=1)


class ScalingSizes(StrictModel):
    """benchmarks/scaling.py: sizes per step family, synthetic data shape, and memory limit."""

    seed: int = 0
    prompts: list[int] = Field(min_length=2, description="prompt counts for load and hygiene steps")
    tagging_prompts: list[int] = Field(min_length=2, description="prompt counts for MiniLM skill tagging")
    verdict_rows: list[int] = Field(min_length=2, description="verdict rows for building splits")
    commit_rows: list[int] = Field(min_length=2, description="rows per lake commit (prompts table)")
    samples_per_prompt: int = Field(8, ge=1, description="k: verdict rows per prompt in the splits step")
    duplicate_share: float = Field(0.1, ge=0, lt=1, description="share of prompts that copy or edit another")
    embedding: bool = Field(True, description="tag with the real MiniLM (false: a hashing stand-in)")
    memory_limit_gib: float = Field(24.0, gt=0, description="the machine's memory, for the 10M projection")
    project_to: int = Field(10_000_000, ge=1, description="prompts (and verdict rows) to extrapolate to")
    step_timeout_s: float = Field(3600, gt=0, description="a step that takes longer is not run at larger sizes")


class BenchConfig(StrictModel):
    decontam_recall: RecallSizes
    scaling: ScalingSizes


def load_bench_config(path: Path, *, smoke: bool) -> BenchConfig:
    """The YAML; with smoke, each section's `smoke:` overrides merged in."""
    raw = read_yaml(path)
    sections = {}
    for name, section in raw.items():
        section = dict(section or {})
        overrides = section.pop("smoke", {}) or {}
        sections[name] = merge_mappings(section, overrides) if smoke else section
    return validate_model(BenchConfig, sections, path)


def describe_machine() -> dict:
    """CPU model, usable cores, memory, load and library versions: what a timing depends on."""
    import os
    import platform

    import duckdb
    import numpy
    import pyarrow

    cpu = next((line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor() or platform.machine())
    mem_kb = next((int(line.split()[1]) for line in _lines("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "memory_gib": round(mem_kb / 2**20, 1),
            "load_avg_1m": round(os.getloadavg()[0], 1), "python": platform.python_version(),
            "numpy": numpy.__version__, "pyarrow": pyarrow.__version__, "duckdb": duckdb.__version__}


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def write_doc(render, result: dict, path: Path) -> Path:
    """Write render(result) (a markdown page) to path."""
    path.write_text(render(result), encoding="utf-8")
    return path


def regenerate_doc(render, result_path: Path, doc_path: Path, argv: list[str]) -> None:
    """A report script's command line: rewrite its doc from a result file (default: the committed one)."""
    import json

    source = Path(argv[1]) if len(argv) > 1 else result_path
    print(write_doc(render, json.loads(source.read_text()), doc_path))
