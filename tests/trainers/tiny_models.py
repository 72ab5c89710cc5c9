"""Helpers for trainer tests: tiny random Llama models and split rows in a lake."""

import json

import torch

from schemas.ids import content_id

TINY = dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True)


def tiny_llama(tokenizer, seed: int = 0, **overrides):
    """A 2-layer random Llama over `tokenizer`'s vocabulary (fp32, deterministic per seed)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                         **{**TINY, **overrides})
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def save_model(model, tokenizer, path):
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def sft_rows(n: int) -> list[dict]:
    """n short, distinct conversations."""
    rows = []
    for i in range(n):
        messages = [{"role": "user", "content": f"What is {i} plus {i}?"},
                    {"role": "assistant", "content": f"The answer is {2 * i}."}]
        rows.append({"example_id": content_id("sft", i), "prompt_id": content_id("p", i),
                     "messages": messages, "origin": "gold"})
    return rows


def preference_rows(n: int) -> list[dict]:
    return [{"pair_id": content_id("pair", i), "prompt_id": content_id("p", i), "prompt": f"Name the number {i}.",
             "chosen": f"It is {i}.", "rejected": f"I do not know about {i + 7} things.", "chosen_score": 1.0,
             "rejected_score": 0.0, "pair_kind": "correct_vs_incorrect"} for i in range(n)]


def rl_rows(n: int, *, answer: str = "7", verifier: str = "exact", stages: bool = False) -> list[dict]:
    return [{"prompt_id": content_id("rl", i), "task": "say", "prompt": f"say {i % 10}", "answer": answer,
             "verifier": verifier, "metadata": json.dumps({}), "pass_rate": 0.5,
             "curriculum_stage": (i % 3) if stages else None} for i in range(n)]


TABLE_OF = {"sft": "sft_examples", "preference": "preference_pairs", "rl": "rl_prompts"}
ID_OF = {"sft": "example_id", "preference": "pair_id", "rl": "prompt_id"}


def add_split(lake, name: str, kind: str, rows: list[dict], run_id: str = "testrun") -> int:
    """Commit rows to the kind's table and register split `name` over them; returns its version."""
    from schemas.split_registry import register_split

    lake.commit({TABLE_OF[kind]: rows}, run_id=run_id)
    return register_split(lake, name, kind, [r[ID_OF[kind]] for r in rows], run_id=run_id)


def digit_sft_rows(n: int) -> list[dict]:
    """Conversations in the 16-token digit vocabulary: "say i" -> three digits derived from i."""
    rows = []
    for i in range(n):
        answer = f"{i % 10} {(3 * i + 1) % 10} {(i + 5) % 10}"
        rows.append({"example_id": content_id("dsft", i), "prompt_id": content_id("dp", i), "origin": "gold",
                     "messages": [{"role": "user", "content": f"say {i % 10}"},
                                  {"role": "assistant", "content": answer}]})
    return rows


def digit_preference_rows(n: int) -> list[dict]:
    """Pairs in the digit vocabulary: chosen repeats the prompt's digit, rejected does not."""
    return [{"pair_id": content_id("dpair", i), "prompt_id": content_id("dp", i), "prompt": f"say {i % 10}",
             "chosen": f"{i % 10}", "rejected": f"{(i + 3) % 10} {(i + 4) % 10}", "chosen_score": 1.0,
             "rejected_score": 0.0, "pair_kind": "correct_vs_incorrect"} for i in range(n)]
