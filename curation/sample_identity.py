"""A sample's identity: everything that changes its text, hashed into its generation id.

    generation_id = hash(prompt_id, prompt text, SampleIdentity.key, sample index)
    SampleIdentity = model fingerprint (weights + config + tokenizer), chat template, prompt format
                     (system message, suffix), sampling settings (temperature, top_p, max_tokens, seed)

The four parts are stored on every `generations` row, so a run can say why a sample it needs was
not in the lake (`why_regenerated`). Rows written before sample identity have them NULL: they stay
readable and are never reused. A backend that takes per-request seeds draws each sample from
`request_seed(generation_id)`, so a sample is the same whichever run, shard or batch draws it.
"""

import dataclasses
import functools
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa

from curation.backends.base import GenerationBackend, Sampling
from curation.prompt_format import PromptFormat
from schemas.ids import content_id

NEVER_SAMPLED = "new: never sampled before"
PREDATES_IDENTITY = "the lake's sample predates sample identity"
TEXT_CHANGED = "changed: prompt text"
# Why an earlier sample of the same prompt and index is not this one: the parts that differ.
CHANGED = {"model_fingerprint": "model (weights, config or tokenizer)", "chat_template": "chat template",
           "prompt_format": "prompt format", "sampling": "sampling settings"}


@dataclass(frozen=True)
class SampleIdentity:
    """Everything but the prompt that shapes a sample; field names are `generations` columns."""

    model_fingerprint: str
    chat_template: str
    prompt_format: str
    sampling: str

    @classmethod
    def of(cls, backend: GenerationBackend, fmt: PromptFormat, sampling: Sampling) -> "SampleIdentity":
        """The identity of samples `backend` draws with this format and these settings."""
        model = backend.identity()
        return cls(model.fingerprint, model.chat_template, fmt.fingerprint(), sampling.record())

    @functools.cached_property  # read once per sample id: hashing the chat template each time dominated
    def key(self) -> str:
        """One hash of all parts (names a staging folder; enters every generation id)."""
        return content_id(*dataclasses.astuple(self))

    def generation_id(self, prompt_id: str, prompt: str, sample_index: int) -> str:
        """Stable id of one sample: the same prompt, identity and index give the same id."""
        return content_id(prompt_id, prompt, self.key, sample_index)

    def columns(self) -> dict[str, str]:
        """The identity as `generations` column values."""
        return dataclasses.asdict(self)


def request_seed(generation_id: str) -> int:
    """The per-request seed of a sample (fits every engine's seed type)."""
    return int(generation_id, 16) % 2**31


def identity_columns() -> list[str]:
    """The `generations` columns that hold a SampleIdentity."""
    return [f.name for f in dataclasses.fields(SampleIdentity)]


def predating_identity(earlier: pa.Table) -> int:
    """Rows of a generations table written before sample identity (no model fingerprint)."""
    return earlier.column("model_fingerprint").null_count


def why_regenerated(earlier: pa.Table, identity: SampleIdentity,
                    missing: list[tuple[str, int]]) -> Counter:
    """For each (prompt_id, sample_index) about to be generated, why no lake sample served it.

    `earlier` holds the lake's generations of these prompts (prompt_id, sample_index and the
    identity columns). The reason names the parts that differ in the closest earlier sample of the
    same prompt and index ("changed: prompt format"); or says the earlier sample predates sample
    identity; or that there was none (new).
    """
    wanted = identity.columns()
    seen: dict[tuple[str, int], list[dict]] = {}
    for row in earlier.select(["prompt_id", "sample_index", *wanted]).to_pylist():
        seen.setdefault((row["prompt_id"], row["sample_index"]), []).append(row)
    reasons: Counter = Counter()
    for key in missing:
        reasons[_reason(seen.get(key, []), wanted)] += 1
    return reasons


def _reason(candidates: list[dict], wanted: dict[str, str]) -> str:
    known = [row for row in candidates if row["model_fingerprint"] is not None]
    if not known:
        return PREDATES_IDENTITY if candidates else NEVER_SAMPLED
    differing = min(([name for name in wanted if row[name] != wanted[name]] for row in known), key=len)
    if not differing:  # same identity, other id: the prompt's text changed under the same prompt_id
        return TEXT_CHANGED
    return "changed: " + ", ".join(CHANGED[name] for name in differing)
