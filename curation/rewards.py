"""The curation verifiers as reward functions of the big RL engines: verl, OpenRLHF and TRL.

Each function below turns one engine's calling convention into the `verify()` call curation
and `warmstart train grpo` make, so a policy trained on a cluster is rewarded by the same code
that judged its prompts. The engines load this file in their own workers (verl:
`custom_reward_function.path`, OpenRLHF: `--remote_rm_url PATH.py`), so it imports nothing
heavy at import time and needs warmstart installed there (`pip install warmstart`).

The rows come from `warmstart export SPLIT --format verl|openrlhf|trl` (flows/handoff.py).
Conventions followed (read from each project's docs and source):
- verl 0.4-0.5: docs/preparation/reward_function.rst; verl/workers/reward_manager/naive.py calls
  `compute_score(data_source=, solution_str=, ground_truth=, extra_info=)` and takes a float, or
  a dict whose "score" is the reward and whose other keys are logged (as math_dapo's "acc").
- OpenRLHF 0.8: README "Reinforced Fine-tuning"; a file passed as `--remote_rm_url` must define
  `reward_func(queries, prompts, labels)`, queries = prompt + response text, labels = the
  `--label_key` field; it returns {"rewards", "scores", "extra_logs"} tensors.
- TRL 1.16: GRPOTrainer calls each reward function as `f(prompts=, completions=,
  completion_ids=, **columns)` with every dataset column but "prompt" as a list, and wants one
  float per completion; conversational completions are `[{"role": "assistant", "content": ...}]`.
"""

import json
import re

from curation.verifiers import Verdict, verify
from schemas.errors import InputError

# OpenRLHF (up to 0.7) decodes queries with skip_special_tokens=False: the response then ends in
# the EOS / padding token text of the chat template, which is no part of the model's answer.
_TRAILING_SPECIAL = re.compile(r"(?:\s*(?:<\|[^|<>\s]+\|>|</s>|<eos>|<pad>|<end_of_turn>))+\s*$")


def score(response: str, verifier: str, answer: str | None, metadata, question: str | None = None) -> Verdict:
    """verify() with metadata given as a JSON string, a dict or None (the shape exports carry)."""
    return verify(verifier, response, answer, parse_metadata(metadata), question=question or "")


def parse_metadata(metadata, where: str = "") -> dict:
    """A row's metadata as a dict: exports and splits keep it as a JSON string (per-task schemas
    differ); `where` names the row in the error."""
    prefix = f"{where}: " if where else ""
    if metadata is None or metadata == "":
        return {}
    if isinstance(metadata, dict):
        return metadata
    try:
        parsed = json.loads(metadata)
    except (TypeError, json.JSONDecodeError) as exc:
        raise InputError(f"{prefix}metadata is not JSON ({exc})", field="metadata") from None
    if not isinstance(parsed, dict):
        raise InputError(f"{prefix}metadata must be a JSON object", field="metadata")
    return parsed


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> dict:
    """verl: {"score": reward, "acc": verified correct}; `extra_info` is the exported row's."""
    if not isinstance(extra_info, dict) or not extra_info.get("verifier"):
        raise InputError(f"verl row of '{data_source}' has no extra_info.verifier: export the split with "
                         "`warmstart export SPLIT --format verl`", field="extra_info")
    verdict = score(solution_str, extra_info["verifier"], ground_truth, extra_info.get("metadata"),
                    extra_info.get("question"))
    return {"score": verdict.score, "acc": verdict.correct}


def correctness_reward(completions, answer, verifier, metadata, question=None, **kwargs) -> list[float]:
    """TRL: the verifier's score of each completion (plain text or a list of chat messages)."""
    questions = question if question is not None else [None] * len(completions)
    return [score(completion_text(c), v, a, m, q).score
            for c, a, v, m, q in zip(completions, answer, verifier, metadata, questions, strict=True)]


def completion_text(completion) -> str:
    """The generated text of a TRL completion: a string, or the last message of a conversation."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return completion[-1].get("content") or ""
    raise InputError(f"completion is neither text nor a list of messages: {completion!r:.80}")


def reward_func(queries, prompts, labels, **kwargs) -> dict:
    """OpenRLHF: rewards for prompt+response `queries`; each label is the exported JSON label."""
    import torch  # lazy: OpenRLHF workers have it, importing this module must stay cheap

    verdicts = [_openrlhf_verdict(q, p, label) for q, p, label in zip(queries, prompts, labels, strict=True)]
    rewards = torch.tensor([v.score for v in verdicts], dtype=torch.float32)
    correct = torch.tensor([float(v.correct) for v in verdicts], dtype=torch.float32)
    return {"rewards": rewards, "scores": rewards, "extra_logs": {"acc": correct}}


def _openrlhf_verdict(query: str, prompt: str, label) -> Verdict:
    try:
        fields = label if isinstance(label, dict) else json.loads(label)
    except (TypeError, json.JSONDecodeError):
        fields = None
    if not isinstance(fields, dict) or not fields.get("verifier"):
        raise InputError(f"OpenRLHF label {label!r:.80} is not an exported label: export the split with "
                         "`warmstart export SPLIT --format openrlhf` and pass `--label_key label`", field="label")
    return score(response_after_prompt(query, prompt), fields["verifier"], fields.get("answer"),
                 fields.get("metadata"), fields.get("question"))


def response_after_prompt(query: str, prompt: str) -> str:
    """The response part of an OpenRLHF query (prompt + response), without trailing special tokens."""
    start = query.find(prompt)
    if start < 0:
        raise InputError("OpenRLHF query does not contain its prompt, so the response cannot be cut out")
    return _TRAILING_SPECIAL.sub("", query[start + len(prompt):])
