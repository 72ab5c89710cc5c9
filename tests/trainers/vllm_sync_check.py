"""Run in a subprocess by test_rollout.py: vLLM loads a trainer checkpoint, and its rollouts follow
the live policy after a sync.

A separate process because the vLLM CPU engine pins threads for the whole process.
"""

import sys
import tempfile
from pathlib import Path

import torch
from transformers import AutoTokenizer

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import tiny_llama  # noqa: E402

from trainers.checkpoint import save_final  # noqa: E402
from trainers.rollout import TransformersSampler, VLLMSampler  # noqa: E402


def main(tokenizer_dir: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    model_dir = Path(tempfile.mkdtemp())
    # vLLM's CPU attention needs head_dim 64
    model = tiny_llama(tokenizer, hidden_size=128, num_attention_heads=2, num_key_value_heads=1,
                       intermediate_size=256)
    save_final(model_dir, model, tokenizer, {"run_id": "check"})  # the trainers' final checkpoint format
    engine = VLLMSampler(model_dir, tokenizer, max_new_tokens=6, temperature=1.0, top_p=1.0, seed=0,
                         gpu_memory_utilization=0.1, dtype="float32", enforce_eager=None)
    reference = TransformersSampler(tokenizer, max_new_tokens=6, temperature=1.0, top_p=1.0)
    prompts = [tokenizer.encode("Hello there"), tokenizer.encode("Count to three")]
    before = [c.ids for c in engine.generate(model, prompts, 1, greedy=True)]
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.5)  # the policy moves
    after = [c.ids for c in engine.generate(model, prompts, 1, greedy=True)]
    expected = [c.ids for c in reference.generate(model, prompts, 1, greedy=True)]
    assert after != before, "vLLM still samples from the old weights"
    assert after == expected, f"vLLM {after} != transformers {expected}"
    print("SYNC OK")


if __name__ == "__main__":
    main(sys.argv[1])
