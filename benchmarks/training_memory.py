"""Training memory by phase on the CPU: weights, gradients, optimizer state and activations of one
SFT step, for fp32 weights (with and without bf16 autocast) and bf16 weights, gradient
checkpointing off and on. Prints one JSON line.

Weights, gradients and optimizer state are the bytes of those tensors after the step. The
forward + backward and optimizer peaks come from torch's profiler (`profile_memory`): the largest
sum of live CPU allocations during that phase, over what was live before it; `activations` is the
forward + backward peak less the gradients it leaves. Each configuration runs in its own process;
`peak_rss_mb` is that process's peak resident memory (noisy by a few hundred MB: Python, libraries).

Usage: python benchmarks/training_memory.py [--model smollm2-135m-instruct] [--batch-size 8] [--threads 2]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from training_jobs import warmup_rows, write_data  # noqa: E402

MB = 2**20
CONFIGS = {"fp32": ("fp32", False), "fp32+bf16-autocast": ("fp32", True), "bf16-weights": ("bf16", False)}


def tensor_mb(tensors) -> float:
    return sum(t.numel() * t.element_size() for t in tensors) / MB


def profiled_peak_mb(run) -> float:
    """Peak of live CPU allocations made during run(), in MB over what was live before."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    live, peak = 0, 0
    events = sorted((e for e in prof.events() if e.cpu_memory_usage), key=lambda e: e.time_range.start)
    for event in events:
        live += event.cpu_memory_usage
        peak = max(peak, live)
    return peak / MB


def measure(config: str, checkpointing: bool, args) -> dict:
    """One SFT step of the model on `args.batch_size` warm-up rows, memory by phase."""
    import torch

    from trainers.config import load_config
    from trainers.optim import build_optimizer
    from trainers.placement import fit_to_memory, place_model
    from trainers.recipe import autocast
    from trainers.run import prepare_run

    weights, bf16 = CONFIGS[config]
    cfg = load_config("sft", None, {"data": str(args.data / "sft.jsonl"), "model": args.model, "device": "cpu",
                                    "weights": weights, "bf16": bf16, "gradient_checkpointing": checkpointing,
                                    "batch_size": args.batch_size, "assistant_only_loss": False, "max_length": 512})
    prepared = prepare_run("sft", cfg, run_id="memory")
    placed = place_model(prepared.model_path, cfg, prepared.device, bf16, prepared.recipe)
    model, recipe = placed.model, prepared.recipe
    recipe.setup(model, prepared.device, bf16)
    fit_to_memory(placed, cfg, bf16, recipe)  # applies gradient checkpointing as set
    optimizer = build_optimizer(model, cfg)
    (batches,), _ = recipe.prepare(model, [list(range(args.batch_size))])
    batch = batches[0]

    def forward_backward():
        with autocast(prepared.device, bf16):
            loss, _ = recipe.loss(model, batch)
        loss.backward()

    fwd_bwd = profiled_peak_mb(forward_backward)
    grads = tensor_mb(p.grad for p in model.parameters() if p.grad is not None)
    step = profiled_peak_mb(optimizer.step)
    state = tensor_mb(v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v))
    params = tensor_mb(model.parameters())
    return {"tokens": batch.n_tokens, "weights_mb": round(params), "grads_mb": round(grads),
            "optimizer_mb": round(state), "activations_mb": round(fwd_bwd - grads),
            "forward_backward_peak_mb": round(fwd_bwd), "optimizer_step_peak_mb": round(step),
            "peak_mb": round(params + max(fwd_bwd, grads + step)),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        import torch

        torch.set_num_threads(args.threads)
        config, checkpointing = args.job.rsplit(":", 1)
        print(json.dumps(measure(config, checkpointing == "on", args)))
        return
    args.data = Path(tempfile.mkdtemp())
    write_data(warmup_rows(args.batch_size, seed=0), args.data)
    results = {}
    for config in CONFIGS:
        for checkpointing in ("off", "on"):
            name = f"{config}:{checkpointing}"
            print(f"measuring {name} ...", file=sys.stderr)
            cmd = [sys.executable, __file__, "--job", name, "--data", str(args.data), "--model", args.model,
                   "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            results[f"{config}, checkpointing {checkpointing}"] = (
                json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0
                else {"error": done.stderr.strip().splitlines()[-1][:300]})
    print(json.dumps({"benchmark": "training_memory", "model": args.model, "device": "cpu",
                      "batch_size": args.batch_size, "step": "SFT, loss on every token, packed", "results": results}))


if __name__ == "__main__":
    main()
