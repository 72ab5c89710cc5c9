"""Held-out evaluation: a model's accuracy on eval prompts, scored by the curation verifiers.

The same generate and verify code as curation (one code path), with one sample per prompt,
greedy by default, so a score is a fact about the checkpoint rather than about sampling luck.
"""

from dataclasses import dataclass, field

import pyarrow as pa

from curation.backends.base import GenerationBackend, Sampling
from curation.generate import PromptFormat, generate_table
from curation.verifiers import verdicts_table


@dataclass
class HeldOutScore:
    """Accuracy over all eval prompts and per task; mean response length in tokens."""

    n: int
    n_correct: int
    mean_tokens: float
    per_task: dict[str, tuple[int, int]] = field(default_factory=dict)  # task -> (n, n_correct)

    @property
    def accuracy(self) -> float:
        return self.n_correct / self.n if self.n else 0.0

    def task_rates(self) -> dict[str, float]:
        """Pass rate per task."""
        return {task: c / n for task, (n, c) in self.per_task.items() if n}


def evaluate(backend: GenerationBackend, prompts: pa.Table, fmt: PromptFormat, sampling: Sampling,
             progress=None) -> HeldOutScore:
    """One response per eval prompt (sampling.k is taken as 1), verified; the score per task."""
    one = Sampling(**{**sampling.model_dump(), "k": 1})
    gens = generate_table(backend, prompts, fmt, one, progress=progress)
    correct = dict(zip(gens.column("prompt_id").to_pylist(),
                       verdicts_table(gens, prompts).column("correct").to_pylist()))
    per_task: dict[str, tuple[int, int]] = {}
    for pid, task in zip(prompts.column("prompt_id").to_pylist(), prompts.column("task").to_pylist()):
        n, c = per_task.get(task, (0, 0))
        per_task[task] = (n + 1, c + bool(correct.get(pid)))
    tokens = gens.column("n_tokens").to_pylist()
    return HeldOutScore(n=sum(n for n, _ in per_task.values()), n_correct=sum(c for _, c in per_task.values()),
                        mean_tokens=sum(tokens) / max(1, len(tokens)), per_task=per_task)
