"""GRPO sampling: completions are cut at EOS; the vLLM engine follows the live policy."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from trainers.rollout import TransformersSampler, trim


def test_trim_cuts_after_the_first_eos_and_flags_truncation():
    assert trim([5, 6, 2, 2, 2], {2}, 2, 4) == ([5, 6, 2], False)
    assert trim([5, 6, 7, 8], {2}, 2, 4) == ([5, 6, 7, 8], True)
    assert trim([5, 0, 0], {2}, 0, 3) == ([5], True)  # a separate pad token is dropped


def test_transformers_sampler_groups_g_samples_per_prompt(digit_tokenizer):
    from tiny_models import tiny_llama

    sampler = TransformersSampler(digit_tokenizer, max_new_tokens=3, temperature=1.0, top_p=1.0)
    prompts = [digit_tokenizer.encode("say 1"), digit_tokenizer.encode("say 2 3")]
    completions = sampler.generate(tiny_llama(digit_tokenizer), prompts, 4)
    assert len(completions) == 8
    assert all(1 <= len(c.ids) <= 3 for c in completions)
    assert all(c.truncated == (digit_tokenizer.eos_token_id not in c.ids) for c in completions)


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed")
def test_vllm_rollouts_follow_the_live_policy(bundled_model_path):
    script = Path(__file__).with_name("vllm_sync_check.py")
    done = subprocess.run([sys.executable, str(script), str(bundled_model_path)], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0 and "SYNC OK" in done.stdout, done.stderr[-2000:]
