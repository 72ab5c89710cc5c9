"""Run under torchrun by test_parallel.py: train each trainer of SPEC (a JSON file) on the ranks
and, on rank 0, write every run's per-step losses and checkpoint to SPEC's `out` file.

    torchrun --nproc_per_node 2 tests/trainers/parallel_check.py spec.json
"""

import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from trainers.rollout import Completion  # noqa: E402


class AlternatingSampler:
    """Deterministic completions: "7" (right) for even samples, "3" (wrong) for odd ones, so every
    group has a reward spread and every rank (and one process) samples alike. With `only`, prompts
    "say D" for D not in `only` get "7" every time: no spread, so zero-variance filtering drops them."""

    def __init__(self, tokenizer, only: str | None = None):
        self.tokenizer, self.only = tokenizer, only

    def generate(self, model, prompts, n, *, greedy=False):
        out = []
        for prompt in prompts:
            digit = re.search(r"say (\d)", self.tokenizer.decode(prompt))
            flat = self.only is not None and (digit is None or digit.group(1) not in self.only)
            for k in range(n):
                text = "7" if flat or k % 2 == 0 else "3"
                out.append(Completion(self.tokenizer.encode(text) + [self.tokenizer.eos_token_id], text, False))
        return out


def run_all(spec: dict, on_metrics_of=None) -> dict:
    """Train every run of `spec` ({name: {"trainer", options}}); returns {name: {"losses", "grad_norms" (by
    step), "checkpoint", ...}}."""
    from trainers.config import load_config
    from trainers.run import train

    results = {}
    for name, options in spec["runs"].items():
        options = dict(options)
        trainer, only = options.pop("trainer"), options.pop("sampler_only", None)
        losses, norms = {}, {}
        cfg = load_config(trainer, None, options)
        context = {"sampler": AlternatingSampler(load_tokenizer(cfg.model), only)} if trainer == "grpo" else {}

        def record(step, metrics, losses=losses, norms=norms):
            losses[str(step)], norms[str(step)] = metrics.get("loss"), metrics.get("grad_norm")

        result = train(trainer, cfg, run_id=f"parallel-{name}", on_metrics=record, **context)
        results[name] = {"losses": losses, "grad_norms": norms, "checkpoint": str(result.checkpoint),
                            "memory": result.memory, "processes": result.lineage["processes"]}
    return results


def load_tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    results = run_all(spec)
    if int(os.environ.get("RANK", "0")) == 0:
        Path(spec["out"]).write_text(json.dumps(results))
    from trainers.parallel import close_parallel

    close_parallel()
