"""SFT recipe: chat-templated conversations, loss on assistant tokens, padding-free packing."""

from pydantic import Field

from schemas.errors import SplitError
from trainers.collate import IGNORE, Sequence, collate, encode_chat
from trainers.config import TrainConfig
from trainers.logprobs import label_logps
from trainers.losses import sft_loss
from trainers.recipe import Recipe


class SFTConfig(TrainConfig):
    """Supervised fine-tuning on `sft` splits (messages)."""

    packing: bool = Field(True, description="padding-free packing of each micro-batch into one row")
    assistant_only_loss: bool = Field(True, description="loss on assistant tokens only")


def encode_rows(rows: list[dict], tokenizer, cfg: SFTConfig) -> list[Sequence]:
    """Tokenized sequences with at least one label token left after truncation to max_length."""
    sequences = [encode_chat(tokenizer, row["messages"], max_length=cfg.max_length,
                             assistant_only=cfg.assistant_only_loss) for row in rows]
    return [s for s in sequences if any(label != IGNORE for label in s.labels[1:])]


def label_count(batch) -> int:
    """Tokens that carry loss (the shift drops each row's first position)."""
    return int((batch.labels[:, 1:] != IGNORE).sum())


class SFTRecipe(Recipe):
    """Negative log-likelihood of the assistant turns, normalised over the accumulation window."""

    def __init__(self, rows: list[dict], tokenizer, cfg: SFTConfig, eval_rows: list[dict] | None = None):
        super().__init__(rows, tokenizer, cfg, eval_rows)
        self.sequences = encode_rows(rows, tokenizer, cfg)
        if not self.sequences:
            raise SplitError(f"no example has assistant tokens within max_length={cfg.max_length}")
        self.dropped = len(rows) - len(self.sequences)
        self.eval_sequences = encode_rows(eval_rows or [], tokenizer, cfg)[:cfg.eval_max_examples]
        self.n_examples = len(self.sequences)

    def batch(self, indices: list[int], sequences: list[Sequence] | None = None):
        pool = self.sequences if sequences is None else sequences
        return collate([pool[i] for i in indices], packing=self.cfg.packing, pad_id=self.pad_id,
                       row_tokens=self.cfg.pack_length)

    def example_tokens(self, index: int) -> int:
        return len(self.sequences[index].input_ids)

    def prepare(self, model, micro_batches: list[list[int]]):
        batches = [self.batch(indices) for indices in micro_batches]
        window_tokens = int(self.parallel.sum(sum(label_count(b) for b in batches)))  # over all ranks
        for b in batches:
            b.extra["num_items"] = window_tokens
        return [batches], {"label_tokens": float(window_tokens)}

    def loss(self, model, batch):
        logps = label_logps(model, batch)
        return sft_loss(logps.values, batch.extra["num_items"]), {}

    def evaluate(self, model) -> dict[str, float]:
        if not self.eval_sequences:
            return {}
        device = next(model.parameters()).device
        total, count = 0.0, 0
        for start in range(0, len(self.eval_sequences), self.cfg.batch_size):
            indices = range(start, min(start + self.cfg.batch_size, len(self.eval_sequences)))
            batch = self.batch(list(indices), self.eval_sequences).to(device)
            values = label_logps(model, batch).values
            total, count = total - float(values.sum()), count + values.numel()
        return {"eval/loss": total / max(1, count)}
