"""How much of what `warmstart run / train / loop` print is third-party (engine) output.

Each command runs twice in a fresh folder: with --verbose (engine output on the terminal, as
before runs/<run_id>/engine.log existed) and without. Counted on the terminal (stdout + stderr):
all lines, WARNING lines, and third-party lines (log levels, Python warnings, tqdm bars, vLLM's
process prefixes). Prints one JSON line and writes benchmarks/terminal_noise.json (--only
replaces those commands' entries and keeps the others).
Not a test: it takes minutes (the demo config on vLLM).

    .venv/bin/python benchmarks/terminal_noise.py [--only run train]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
THIRD_PARTY = re.compile(r"WARNING|Warning|\bINFO\b|\bDEBUG\b|it/s\]|\((EngineCore|Worker|MainProcess)|"
                         r"Loading (safetensors|weights)")


def commands(work: Path) -> dict[str, list[str]]:
    """The measured command lines (train uses the split `run` cuts; loop runs one short round)."""
    lake = str(work / "lake")
    return {
        "run": ["run", "configs/demo.yaml", "--lake", lake],
        "train": ["train", "sft", "--split", "sft", "--max-steps", "2", "--batch-size", "4", "--lake", lake,
                  "--out", str(work / "sft")],
        "loop": ["loop", "configs/loop.yaml", "--lake", str(work / "loop-lake"), "--rounds", "1",
                 "--set", f"work_dir={work / 'loop'}", "--set", "curate.fresh_per_source=8",
                 "--set", "eval.max_tokens=64", "--set", "train.options.sft={max_steps: 2, batch_size: 4, save_interval: 0}"],
    }


def count(text: str) -> dict:
    """Lines (a carriage return, as a progress bar redraws, does not start one), WARNING and third-party lines."""
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    return {"lines": len(lines), "warning_lines": sum("WARNING" in line or "Warning" in line for line in lines),
            "third_party_lines": sum(bool(THIRD_PARTY.search(line)) for line in lines)}


def measure(argv: list[str], runs_dir: Path) -> dict:
    env = {"WARMSTART_RUNS": str(runs_dir), "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "flows.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env})
    if done.returncode != 0:  # recorded, and the others still run (a busy machine can fail an engine start)
        return {"error": f"exit {done.returncode}: {(done.stdout + done.stderr).strip().splitlines()[-1][:300]}"}
    return {**count(done.stdout + done.stderr), "seconds": round(time.monotonic() - started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=["run", "train", "loop"], default=["run", "train", "loop"])
    args = parser.parse_args()
    results = {}
    for mode in ("verbose", "quiet"):
        with tempfile.TemporaryDirectory() as folder:
            work = Path(folder)
            for name, argv in commands(work).items():
                needed = name in args.only or (name == "run" and "train" in args.only)
                if needed:
                    flags = ["--verbose"] if mode == "verbose" else []
                    results.setdefault(name, {})[mode] = measure(argv + flags, work / "runs")
    results = {name: results[name] for name in args.only}
    print(json.dumps(results))
    out = HERE / "terminal_noise.json"
    earlier = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(json.dumps({**earlier, **results}, indent=2) + "\n")  # --only keeps the other commands


if __name__ == "__main__":
    main()
