"""The engine-facing reward functions give exactly verify()'s score, in each engine's calling shape."""

import json
import subprocess
import sys

import pytest

from curation.rewards import (compute_score, completion_text, correctness_reward, response_after_prompt,
                              reward_func)
from curation.verifiers import verify
from schemas.errors import ConfigError, InputError

# (verifier, answer, metadata, correct response, wrong response)
CASES = [
    ("exact", "Paris", {}, "The capital is...\nAnswer: paris.", "Answer: Lyon"),
    ("math", "1/2", {}, "Answer: \\frac{1}{2}", "Answer: 0.6"),
    ("regex", None, {"answer_regex": r"[A-D]"}, "Answer: C", "Answer: E"),
    ("reasoning_gym", "7", {"source_dataset": "chain_sum", "source_index": 0}, "3 + 4 = 7\nAnswer: 7", "Answer: 8"),
]


def expected(verifier, answer, metadata, response) -> float:
    return verify(verifier, response, answer, metadata).score


def test_importing_the_module_stays_light():
    """Engines import it in every reward worker: no torch, model, lake or orchestration stack."""
    heavy = ["torch", "transformers", "vllm", "reasoning_gym", "math_verify", "duckdb", "prefect", "datasets"]
    code = f"import sys, curation.rewards; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


@pytest.mark.parametrize("verifier, answer, metadata, right, wrong", CASES)
def test_verl_compute_score_is_verify(verifier, answer, metadata, right, wrong):
    info = {"verifier": verifier, "metadata": json.dumps(metadata), "question": "q", "num_turns": None}
    for response, score in ((right, 1.0), (wrong, 0.0)):
        result = compute_score(data_source="warmstart/t", solution_str=response, ground_truth=answer, extra_info=info)
        assert result == {"score": score, "acc": score == 1.0}
        assert score == expected(verifier, answer, metadata, response)


def test_trl_reward_takes_conversational_and_plain_completions():
    columns = {"answer": [c[1] for c in CASES], "verifier": [c[0] for c in CASES],
               "metadata": [json.dumps(c[2]) for c in CASES]}
    for pick in (3, 4):
        texts = [case[pick] for case in CASES]
        want = [expected(v, a, m, t) for (v, a, m, _, _), t in zip(CASES, texts)]
        assert want == [1.0 if pick == 3 else 0.0] * len(CASES)
        chats = [[{"role": "assistant", "content": t}] for t in texts]
        assert correctness_reward(completions=chats, prompts=None, **columns) == want
        assert correctness_reward(completions=texts, trainer_state=None, **columns) == want


def test_trl_completion_must_be_text_or_messages():
    assert completion_text([{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]) == "b"
    with pytest.raises(InputError, match="neither text nor a list of messages"):
        completion_text(42)


def test_openrlhf_reward_func_cuts_the_response_out_of_the_query():
    prompt = "<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\n"
    label = json.dumps({"answer": "Paris", "verifier": "exact", "metadata": {}, "question": "Capital of France?"})
    queries = ["<|endoftext|>" * 2 + prompt + "Answer: Paris<|im_end|><|endoftext|>",  # left pad, EOS, pad
               prompt + "Answer: Paris</s>", prompt + "Answer: Lyon<|im_end|>"]
    result = reward_func(queries, [prompt] * 3, [label] * 3)
    assert result["rewards"].tolist() == result["scores"].tolist() == [1.0, 1.0, 0.0]
    assert result["extra_logs"]["acc"].tolist() == [1.0, 1.0, 0.0]
    # the prompt's own "Answer:"-like text never counts: only what follows the prompt is scored
    assert response_after_prompt(prompt + "Answer: Paris", prompt) == "Answer: Paris"


@pytest.mark.parametrize("call, error, match", [
    (lambda: compute_score("warmstart/t", "Answer: 1", "1", None), InputError, "no extra_info.verifier"),
    (lambda: compute_score("warmstart/t", "Answer: 1", "1", {"verifier": "exact", "metadata": "{oops"}),
     InputError, "metadata is not JSON"),
    (lambda: compute_score("warmstart/t", "Answer: 1", "1", {"verifier": "vibes"}), ConfigError, "unknown verifier"),
    (lambda: reward_func(["p Answer: 1"], ["p"], ["1"]), InputError, "not an exported label"),
    (lambda: reward_func(["other Answer: 1"], ["p"], [json.dumps({"verifier": "exact", "answer": "1"})]),
     InputError, "does not contain its prompt"),
])
def test_misconfigured_rows_fail_loudly(call, error, match):
    """A dataset that is not an export must stop training, not reward every sample with 0."""
    with pytest.raises(error, match=match):
        call()
