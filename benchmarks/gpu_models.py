"""Random-init models for the GPU check, built on the machine (weights cannot travel): the bundled
SmolLM2-135M config and the same family at the SmolLM2-1.7B shape, bf16, with the bundled
tokenizer. Random weights are right for throughput, memory and "does the CUDA path run", not
for accuracy. `--small` builds two tiny shapes instead (the CPU rehearsal of the check).
Prints one JSON line: {name: {"path", "params"}}.

Usage: python benchmarks/gpu_models.py SOURCE_DIR OUT_DIR [--small]
  SOURCE_DIR: config.json + tokenizer files of the bundled model (gpu_wheels.sh copies them into .whl/)
"""

import json
import shutil
import sys
from pathlib import Path

import torch

SHAPES = {"m135": {}, "m1700": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 24,
                                "num_attention_heads": 32, "num_key_value_heads": 32}}
SMALL = {"m135": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                  "num_key_value_heads": 2, "head_dim": 16},
         "m1700": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
                   "num_key_value_heads": 4, "head_dim": 32}}
TOKENIZER_FILES = (".json", ".jinja")


def build(source: Path, out: Path, shapes: dict) -> dict:
    from transformers import AutoConfig, AutoModelForCausalLM

    built = {}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for name, overrides in shapes.items():
        config = AutoConfig.from_pretrained(source)
        for key, value in overrides.items():
            setattr(config, key, value)
        torch.manual_seed(0)
        with torch.device(device):  # initialising 1.7B parameters on the GPU takes seconds, not minutes
            model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        dest = out / name
        model.save_pretrained(dest, safe_serialization=True)
        for file in source.iterdir():
            if file.suffix in TOKENIZER_FILES and file.name != "config.json":
                shutil.copy(file, dest / file.name)
        built[name] = {"path": str(dest), "params": sum(p.numel() for p in model.parameters())}
        del model
    return built


if __name__ == "__main__":
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    print(json.dumps(build(source, out, SMALL if "--small" in sys.argv else SHAPES)))
