"""Train on several devices: the same run in N processes under torchrun (trainers/parallel.py).

`warmstart train ... --gpus N` checks everything and records the run in this process, then
`launch` pickles the prepared run (rows already tokenized, config, lineage), starts

    torchrun --standalone --nproc_per_node N -m trainers.launch SPEC

and reads back what rank 0 wrote: its metrics, its result, or the typed error a rank raised
(the same error class and message, so the CLI prints one line and records the run as failed).
The lake is touched by this process only. Without the CLI, from an exported split:

    torchrun --nproc_per_node 2 -m trainers.launch --trainer sft --data out/sft.parquet --set batch_size=16
"""

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from schemas import errors
from schemas.errors import WarmstartError

SPEC, METRICS, RESULT = "spec.pkl", "metrics.jsonl", "result.json"


def launch(prepared, *, run_id: str, on_metrics=None):
    """Run `prepared` in cfg.gpus torchrun processes; returns rank 0's TrainResult (no model)."""
    from trainers.run import TrainResult

    work = Path(tempfile.mkdtemp(prefix="warmstart-launch-"))
    try:
        with open(work / SPEC, "wb") as f:
            pickle.dump({"prepared": prepared, "run_id": run_id}, f)
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={prepared.cfg.gpus}", "-m", "trainers.launch", str(work / SPEC)]
        done = subprocess.run(command, env=_worker_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        for line in (work / METRICS).read_text().splitlines() if (work / METRICS).exists() else []:
            record = json.loads(line)
            if on_metrics is not None:
                on_metrics(record["step"], record["metrics"])
        _raise_worker_error(work, done)
        result = json.loads((work / RESULT).read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return TrainResult(run_id, Path(result["checkpoint"]), result["steps"], result["seconds"],
                       result["tokens_per_s"], result["metrics"], result["lineage"], memory=result["memory"])


def _worker_env() -> dict:
    """This environment, with the project importable by the workers."""
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _raise_worker_error(work: Path, done: subprocess.CompletedProcess) -> None:
    """The first error a rank reported, as its own class; else torchrun's failure."""
    reports = sorted(work.glob("error-*.json"))
    if reports:
        report = json.loads(reports[0].read_text())
        kind = getattr(errors, report["type"], None)
        if isinstance(kind, type) and issubclass(kind, WarmstartError):
            raise kind(report["message"])
        raise WarmstartError(f"training failed: {report['type']}: {report['message']}")
    if done.returncode != 0 or not (work / RESULT).exists():
        tail = [line for line in done.stderr.splitlines() if line.strip()][-1:] or ["no output"]
        raise WarmstartError(f"torchrun exited with code {done.returncode}: {tail[0][:300]}")


def worker(spec_path: Path) -> int:
    """One torchrun rank: train the pickled run; rank 0 writes metrics and the result."""
    from trainers.parallel import launched_by_torchrun
    from trainers.run import execute

    spec = pickle.loads(spec_path.read_bytes())
    work, rank = spec_path.parent, int(os.environ.get("RANK", "0"))
    if not launched_by_torchrun():
        raise SystemExit("trainers.launch SPEC runs under torchrun (warmstart train --gpus N starts it)")

    def write_metrics(step: int, metrics: dict) -> None:
        with open(work / METRICS, "a") as f:
            f.write(json.dumps({"step": step, "metrics": metrics}) + "\n")

    try:
        result = execute(spec["prepared"], run_id=spec["run_id"], on_metrics=write_metrics)
    except BaseException as exc:
        (work / f"error-{rank}.json").write_text(json.dumps({"type": type(exc).__name__, "message": str(exc)}))
        return getattr(exc, "exit_code", 1)
    if rank == 0:
        (work / RESULT).write_text(json.dumps({
            "checkpoint": str(result.checkpoint), "steps": result.steps, "seconds": result.seconds,
            "tokens_per_s": result.tokens_per_s, "metrics": result.metrics, "lineage": result.lineage,
            "memory": result.memory}, default=str))
    return 0


def direct(argv: list[str]) -> int:
    """torchrun -m trainers.launch --trainer NAME --data FILE [--config YAML] [--set k=v ...]: no lake;
    rank 0 prints the result as one JSON line."""
    from trainers.config import load_config
    from trainers.run import execute, prepare_run

    parser = argparse.ArgumentParser(prog="torchrun -m trainers.launch", description=direct.__doc__)
    parser.add_argument("--trainer", required=True)
    parser.add_argument("--data", required=True, help="exported split (Parquet/JSONL file or directory)")
    parser.add_argument("--config")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    cfg = load_config(args.trainer, args.config, {"data": args.data}, args.overrides)
    result = execute(prepare_run(args.trainer, cfg, run_id="torchrun"), run_id="torchrun")
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"checkpoint": str(result.checkpoint), "steps": result.steps,
                          "tokens_per_s": result.tokens_per_s, "memory": result.memory, "metrics": result.metrics}))
    return 0


def main(argv: list[str]) -> int:
    from trainers.parallel import close_parallel

    try:
        if len(argv) == 1 and argv[0].endswith(".pkl"):
            return worker(Path(argv[0]))
        return direct(argv)
    except WarmstartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        close_parallel()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
