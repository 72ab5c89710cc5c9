"""How much of a fine-tune survives saving it in bfloat16: the base and the trained weights,
element by element, in float32 and after rounding both to bfloat16 (what a bfloat16 checkpoint
would hold, against the bfloat16 base the next run starts from).

Prints one JSON line and writes benchmarks/bf16_rounding.json. Not a test.

    .venv/bin/python benchmarks/bf16_rounding.py data/models/smollm2-135m-instruct checkpoints/sft-RUN
"""

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parent


def weights(folder: Path) -> dict[str, torch.Tensor]:
    found = {}
    for file in sorted(folder.glob("*.safetensors")):
        found.update(load_file(file))
    return found


def compare(base: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor]) -> dict:
    """Elements the fine-tune moved, those still moved after rounding, and the rounding error's
    size relative to the update (L2 norms over all weights)."""
    moved = survived = total = 0
    update_sq = error_sq = 0.0
    for name, after in tuned.items():
        after, before = after.float(), base[name].float()
        update = after - before
        rounded = after.to(torch.bfloat16).float() - before.to(torch.bfloat16).float()
        moved += int((update != 0).sum())
        survived += int((rounded != 0).sum())
        total += after.numel()
        update_sq += float((update * update).sum())
        error_sq += float(((rounded - update) ** 2).sum())
    return {"elements": total, "moved_in_float32": moved, "moved_after_bf16_rounding": survived,
            "share_of_moves_surviving": round(survived / max(moved, 1), 4),
            "rounding_error_over_update_norm": round((error_sq / max(update_sq, 1e-30)) ** 0.5, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="the model the fine-tune started from")
    parser.add_argument("tuned", type=Path, help="the fine-tuned model (saved in float32)")
    args = parser.parse_args()
    result = {"base": args.base.name, "tuned": args.tuned.name, **compare(weights(args.base), weights(args.tuned))}
    print(json.dumps(result))
    (HERE / "bf16_rounding.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
