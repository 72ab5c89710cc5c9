"""The GPU check's sections, run by benchmarks/gpu_check.sh: each a child process with a time
limit, recorded as ok / failed (with the error's last lines) / skipped (no time, or nothing to
run it on); one section's failure never stops the rest. Writes benchmarks/results-gpu.json with
the machine (GPU names, driver, torch and CUDA versions).

    python benchmarks/gpu_check.py --work /tmp/warmstart-gpu --budget 450 [--small]

--small rehearses every section on the CPU at tiny sizes (how the script is tested without a GPU).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
RESULTS = ROOT / "benchmarks" / "results-gpu.json"


@dataclass
class Check:
    """The run's settings, its clock and what each section recorded."""

    work: Path
    budget: float
    small: bool
    limit_scale: float = 1.0  # the CPU rehearsal on a shared machine needs longer limits
    started: float = field(default_factory=time.time)
    sections: dict = field(default_factory=dict)

    @property
    def device(self) -> str:
        return "cpu" if self.small else "cuda"

    def left(self) -> float:
        return self.budget - (time.time() - self.started)

    def run(self, name: str, command: list[str], limit: float, *, need: float = 20, text_output: bool = False):
        """Run one section; its result is the last JSON line of its stdout (with `text_output`, the
        last lines of it: the CLI's summary). Returns that result when the section is ok."""
        limit, need = limit * self.limit_scale, need * self.limit_scale
        if self.left() < need:
            self.sections[name] = {"status": "skipped", "reason": f"{self.left():.0f} s of the budget left"}
            return None
        tic = time.time()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=min(limit, self.left()), cwd=ROOT)
        except subprocess.TimeoutExpired:
            self.sections[name] = {"status": "failed", "seconds": round(time.time() - tic),
                                   "error": f"timed out after {time.time() - tic:.0f} s"}
            self.write()
            return None
        result = {"output": _tail(done.stdout, 4)} if text_output else _last_json(done.stdout)
        entry = {"status": "ok" if done.returncode == 0 and result is not None else "failed",
                 "seconds": round(time.time() - tic, 1), "command": " ".join(command[1:])[:300]}
        if entry["status"] == "failed":
            entry["error"] = _tail(done.stderr or done.stdout)
        self.sections[name] = {**entry, "result": result}
        self.write()  # after every section: a check cut short still brings back what it measured
        return result if entry["status"] == "ok" else None

    def write(self) -> None:
        out = {"check": "gpu", "machine": machine(), "small_rehearsal": self.small,
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
               "elapsed_s": round(time.time() - self.started), "budget_s": self.budget, "sections": self.sections}
        text = json.dumps(out, indent=1, default=str)
        (self.work / "results-gpu.json").write_text(text)
        if not self.small:
            RESULTS.write_text(text)
        if os.environ.get("OUT"):  # the device tool brings back what lands in $OUT
            Path(os.environ["OUT"], "results-gpu.json").write_text(text)


def _last_json(text: str):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def _tail(text: str, lines: int = 6) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip() and "Warning" not in line]
    return "\n".join(kept[-lines:])[-1500:]


def machine() -> dict:
    import torch

    info = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}
    try:
        info["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                                             "--format=csv,noheader"], capture_output=True, text=True,
                                            timeout=20).stdout.strip().splitlines()
    except (OSError, subprocess.TimeoutExpired):
        info["nvidia_smi"] = None
    for package in ("transformers", "trl", "vllm", "duckdb", "pydantic"):
        try:
            info[package] = __import__(package).__version__
        except Exception:  # noqa: BLE001 - absent or broken: say so, never stop the check
            info[package] = None
    return info


def cli_train(check: Check, models: dict, data: dict) -> None:
    """warmstart train sft|dpo|grpo on the device, recorded in a fresh lake."""
    splits = {"sft": "sft", "dpo": "preference", "grpo": "rl"}
    for trainer, split in splits.items():
        extra = ["--set", "num_generations=4", "--set", "max_new_tokens=32"] if trainer == "grpo" else []
        check.run(f"cli_train_{trainer}", [PY, "-m", "flows.cli", "train", trainer, "--split", split, "--lake",
                                           data["lake"], "--model", models["m135"]["path"], "--device", check.device,
                                           "--max-steps", "4", "--batch-size", "8", "--out",
                                           str(check.work / f"ckpt-{trainer}"), "--set", "progress=false", *extra,
                                           "--set", "log_interval=1"],
                  limit=90, text_output=True)
    check.run("cli_train_recorded", [PY, "-m", "flows.cli", "sql", "--lake", data["lake"], "--format", "json",
                                     "SELECT list(status ORDER BY started) AS statuses, "
                                     "list(run_id ORDER BY started) AS runs FROM runs WHERE kind = 'train'"],
              limit=30, need=5)


# the jobs (training_jobs.VARIANTS) of each trainer benchmark: each side's default layout, at the
# checkpointing and weights the section sets (the full matrix does not fit the check's budget)
SFT_JOBS = ["warmstart-sft", "trl-sft"]
DPO_GRPO_JOBS = ["warmstart-dpo", "trl-dpo", "warmstart-grpo", "trl-grpo"]


def bench(check: Check, name: str, model: str, jobs: list[str], sizes: list[str], *extra: str, limit: float,
          need: float) -> None:
    """One run of benchmarks/training.py on the device: tokens/s, peak memory and MFU of each job."""
    check.run(name, [PY, "benchmarks/training.py", "--device", check.device, "--model", model, "--variants",
                     ",".join(jobs), *sizes, *extra], limit=limit, need=need)


def bench_1p7b(check: Check, models: dict, settings: list[tuple[str, str]], extra: list[str] = ()) -> None:
    """SFT vs TRL at the 1.7B shape (batch 128, ~124 tokens, 7 timed steps): tokens/s, memory, MFU."""
    sizes = ["--steps", "3", "--batch-size", "8"] if check.small else ["--steps", "8", "--batch-size", "128"]
    for ckpt, weights in settings:
        bench(check, f"bench_1p7b_sft_ckpt_{ckpt}_{weights}" + ("_compile" if extra else ""), models["m1700"]["path"],
              SFT_JOBS, sizes, "--gradient-checkpointing", ckpt, "--weights", weights, *extra, limit=150, need=60)


def bench_135m(check: Check, models: dict) -> None:
    """SFT (and warmstart's padded SFT), DPO and GRPO vs TRL at 135M, checkpointing off on both sides."""
    sizes = ["--steps", "3", "--batch-size", "8"] if check.small else ["--steps", "5", "--batch-size", "32"]
    bench(check, "bench_135m_all", models["m135"]["path"], [*SFT_JOBS, "warmstart-sft-padded", *DPO_GRPO_JOBS],
          sizes, "--gradient-checkpointing", "off", limit=200, need=60)


def bench_1p7b_dpo_grpo(check: Check, models: dict) -> None:
    """DPO and GRPO vs TRL at the 1.7B shape, checkpointing off."""
    sizes = ["--steps", "4", "--batch-size", "8" if check.small else "32"]
    bench(check, "bench_1p7b_dpo_grpo", models["m1700"]["path"], DPO_GRPO_JOBS, sizes, "--gradient-checkpointing",
          "off", limit=180, need=90)


def auto_fit(check: Check, models: dict, data: dict) -> None:
    """A batch that does not fit without checkpointing: the plan must choose, and say so."""
    batch = "16" if check.small else "768"  # 768 x ~134 tokens: ~100k tokens in one micro-batch
    check.run("auto_fit_1p7b", [PY, "-m", "flows.cli", "train", "sft", "--data", data["files"]["sft"], "--model",
                                models["m1700"]["path"], "--device", check.device, "--max-steps", "2", "--batch-size",
                                batch, "--out", str(check.work / "ckpt-autofit"), "--set", "progress=false",
                                "--set", "max_length=512"], limit=120, need=45, text_output=True)


def sharded(check: Check, models: dict, data: dict) -> None:
    """FSDP2 under torchrun on min(2, GPUs) devices (gloo CPU processes when rehearsing)."""
    import torch

    n = 2 if check.small else max(1, min(2, torch.cuda.device_count()))
    out = check.work / "ckpt-fsdp"
    result = check.run("fsdp_sft", [PY, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
                                    "-m", "trainers.launch", "--trainer", "sft", "--data", data["files"]["sft"],
                                    "--set", f"model={models['m135']['path']}", "--set", f"device={check.device}",
                                    "--set", f"gpus={n}", "--set", "max_steps=4", "--set", "batch_size=16",
                                    "--set", f"out={out}", "--set", "progress=false"], limit=120, need=40)
    if result is not None:
        check.run("fsdp_checkpoint_loads", [PY, "-c", (
            "import json, sys; from transformers import AutoModelForCausalLM; "
            f"m = AutoModelForCausalLM.from_pretrained({str(out)!r}); "
            "print(json.dumps({'params': sum(p.numel() for p in m.parameters()), 'processes': "
            f"{n}}}))")], limit=60, need=10)


def generation(check: Check, models: dict) -> None:
    sizes = ["--prompts", "8", "--k", "2", "--max-tokens", "8"] if check.small else []
    check.run("generation", [PY, "benchmarks/generation_gpu.py", "--model", f"m135={models['m135']['path']}",
                             "--model", f"m1700={models['m1700']['path']}"] + sizes, limit=150, need=45)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/warmstart-gpu"))
    parser.add_argument("--budget", type=float, default=450, help="seconds for all sections")
    parser.add_argument("--small", action="store_true", help="CPU rehearsal at tiny sizes")
    parser.add_argument("--model-source", type=Path, default=ROOT / ".whl" / "model-config")
    parser.add_argument("--limit-scale", type=float, default=1.0, help="multiply every section's time limit")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    check = Check(args.work, args.budget, args.small, args.limit_scale)
    try:
        models = check.run("models", [PY, "benchmarks/gpu_models.py", str(args.model_source), str(args.work / "models")]
                           + (["--small"] if args.small else []), limit=120, need=10)
        rows = "64" if args.small else "1024"  # the auto-fit section trains one batch of 768 rows
        data = check.run("data", [PY, "benchmarks/gpu_data.py", str(args.work / "data"), "--rows", rows],
                         limit=60, need=10)
        if models and data:  # most telling first: later sections are skipped when the budget runs out
            cli_train(check, models, data)
            bench_1p7b(check, models, [("off", "fp32"), ("on", "fp32"), ("off", "bf16")])
            sharded(check, models, data)
            bench_135m(check, models)
            auto_fit(check, models, data)
            generation(check, models)
            bench_1p7b(check, models, [("on", "bf16")])
            bench_1p7b(check, models, [("off", "bf16")], ["--compile", "--warmstart-only"])
            bench_1p7b_dpo_grpo(check, models)
    finally:
        check.write()
    print(json.dumps({name: s["status"] for name, s in check.sections.items()}))


if __name__ == "__main__":
    main()
