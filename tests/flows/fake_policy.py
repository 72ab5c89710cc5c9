"""A deterministic stand-in for a policy model, so whole curate runs need no engine.

Each question gets a fixed skill (its share of right answers) from a hash of its text; each
sample is right or wrong from a hash of (seed, prefix, question, sample), so the same run gives
the same generations on every machine. Responses vary in length, backtracking and truncation
so the hygiene steps have something to do.

It also plays the skill roles: asked for a problem's skills (the extraction prefix) it names
skills from the operators and words in the problem, a little differently per reply; asked to
write a problem for a skill pair (the writing prefix) it writes an addition question it knows the
answer to, or now and then a reply with no problem or one cut off.
"""

import hashlib
import re

from curation import skill_extraction, skill_writing
from curation.backends.base import Completion, GenerationBackend

# (pattern in the problem, skills named by even replies, by odd ones): spellings and lists differ a little
SKILL_CUES = [(r"greatest common divisor|\bgcd\b", ["greatest common divisor", "divisibility"],
               ["greatest common divisor"]),
              (r"\bletter\b", ["counting letters"], ["letter counting"]),
              (r"\+", ["addition"], ["addition"]), (r"\d\s*-\s*\(?-?\d", ["subtraction"], ["subtraction"]),
              (r"\*", ["multiplication"], ["multiplication"]), (r"\d\s*/\s*\(?-?\d", ["division"], ["division"])]

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
            role = {skill_extraction.PREFIX: self._skills, skill_writing.PREFIX: self._write}.get(prefix)
            if role is not None:
                out.append([role(text, sampling.seed, j) for j in range(n)])
                continue
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

    def _skills(self, request: str, seed: int, j: int) -> Completion:
        """A skill list for the problem inside an extraction request; reply j picks spelling j."""
        head, tail = skill_extraction.TEMPLATE.split("{prompt}")
        problem = request[len(head): len(request) - len(tail)]
        names = [name for pattern, *replies in SKILL_CUES if re.search(pattern, problem, re.IGNORECASE)
                 for name in replies[j % 2]]
        text = " " + ", ".join(names or ["reading"])
        return Completion(text, len(text.split()), "stop")

    def _write(self, request: str, seed: int, j: int) -> Completion:
        """A problem for the pair in a writing request, which this policy can then answer."""
        draw = stable_int("write", request, seed, j)
        if draw % 6 == 0:
            return Completion(" Sure, here is one.", 5, "stop")
        if draw % 6 == 1:
            return Completion(" A very long story about", 160, "length")
        x, y = draw % 50, draw // 50 % 50
        problem = f" Puzzle {draw % 1000}: a box holds {x} red and {y} blue beads. How many beads in all?"
        self.answers[problem.strip()] = str(x + y)
        return Completion(problem, len(problem.split()), "stop")

    def _gold(self, text: str) -> str | None:
        """The gold answer of the question in the text; "a; b" for a composed two-question prompt."""
        found = sorted((text.find(q), a) for q, a in self.answers.items() if a is not None and q in text)
        return "; ".join(a for _, a in found) if found else None


def curate_with_fake_policy(cfg, monkeypatch):
    """Run the real curate flow (run_curation) with FakePolicy in place of the engine it would load,
    and its identity in place of the one that engine's files would give."""
    import curation.backends
    from flows.curate import run_curation
    from flows.sources import load_prompts

    policy = FakePolicy({p["prompt"]: p["answer"] for p in load_prompts(cfg.sources).to_pylist()})
    monkeypatch.setattr(curation.backends, "load_backend", lambda *args, **kwargs: policy)
    monkeypatch.setattr(curation.backends, "identity_without_engine", lambda *args, **kwargs: policy.identity())
    return run_curation(cfg)
