"""How a prompt's text becomes the chat a model sees: one format for generation, SFT, DPO and RL."""

from pydantic import Field

from schemas.config import StrictModel
from schemas.ids import canonical_json, content_id

DEFAULT_SUFFIX = "\n\nGive the final answer after 'Answer:'."


class PromptFormat(StrictModel):
    """How a prompt's text becomes a chat: the same format for generation, SFT, DPO and RL."""

    system: str | None = Field(None, description="system message; None keeps the chat template's default")
    suffix: str = Field(DEFAULT_SUFFIX, description="appended to every prompt's text")

    def user_text(self, prompt: str) -> str:
        """The user message for a prompt."""
        return prompt + self.suffix

    def fingerprint(self) -> str:
        """Hash of every field: a change of system message or suffix changes every sample."""
        return content_id("prompt format", canonical_json(self.model_dump()))


def conversation(prompt: str, fmt: PromptFormat) -> list[dict]:
    """The chat sent to the model: the system message if set, then prompt + suffix."""
    messages = [{"role": "system", "content": fmt.system}] if fmt.system is not None else []
    return messages + [{"role": "user", "content": fmt.user_text(prompt)}]
