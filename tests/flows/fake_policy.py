"""A deterministic stand-in for a policy model, so whole curate runs need no engine.

Each question gets a fixed skill (its share of right answers) from a hash of its text; each
sample is right or wrong from a hash of (seed, prefix, question, sample), so the same run gives
the same generations on every machine. Responses vary in length, backtracking and truncation
so the hygiene steps have something to do.
"""

import hashlib

from curation.backends.base import Completion, GenerationBackend

OPENERS = ["Let me work it out.", "First I read the question carefully.\nThen I compute step by step.",
           "Hmm, wait, let me check that again.", "I add things up.\nWait, that is wrong.\nLet me verify."]


def stable_int(*parts) -> int:
    """A 64-bit integer from the parts' text (Python's hash() is salted per process)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class FakePolicy(GenerationBackend):
    """Answers known questions (question text -> gold answer) right for a per-question share of samples."""

    model_name = "fake-policy"

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    def generate(self, conversations, n, sampling, *, prefixes=None, want_entropy=False, progress=None):
        """n completions per conversation; a prefix changes the draw (step-pair rollouts)."""
        out = []
        for i, conversation in enumerate(conversations):
            text = conversation[-1]["content"]
            prefix = prefixes[i] if prefixes is not None else ""
            out.append([self._sample(text, prefix, sampling.seed, j) for j in range(n)])
        if progress is not None:
            progress(len(conversations))
        return out

    def _sample(self, text: str, prefix: str, seed: int, j: int) -> Completion:
        gold = self._gold(text)
        skill = stable_int("skill", text) % 5 / 4  # 0, .25, .5, .75 or 1
        draw = stable_int(seed, prefix, text, j)
        if draw % 17 == 0:
            return Completion("I keep going and going and never reach", 64, "length")
        right = gold is not None and draw % 100 < skill * 100
        answer = gold if right else f"{draw % 97}"
        body = f"{OPENERS[draw % len(OPENERS)]}\nAnswer: {answer}"
        return Completion(body, len(body.split()), "stop")

    def _gold(self, text: str) -> str | None:
        """The gold answer of the question in the text; "a; b" for a composed two-question prompt."""
        found = sorted((text.find(q), a) for q, a in self.answers.items() if a is not None and q in text)
        return "; ".join(a for _, a in found) if found else None


def curate_with_fake_policy(cfg, monkeypatch):
    """Run the real curate flow (run_curation) with FakePolicy in place of the engine it would load."""
    import curation.backends
    from flows.curate import run_curation
    from flows.sources import load_prompts

    policy = FakePolicy({p["prompt"]: p["answer"] for p in load_prompts(cfg.sources).to_pylist()})
    monkeypatch.setattr(curation.backends, "load_backend", lambda *args, **kwargs: policy)
    return run_curation(cfg)
