"""Training rows of the efficacy baselines, built from the curated lake's rows (pure functions:
rows in, rows out; token counts come from a callable so tests need no tokenizer).

- gold SFT: a seeded random draw of the train prompt pool, each answered `Answer: <gold>` (the
  curate flow's gold template), as many rows as the curated split, or rows added until it has as
  many tokens ("pad the shorter with more rows"); past the end of the pool it draws again;
- random RL prompts: as many pool prompts as the `rl` split, drawn without regard to pass rate;
- budget SFT: the first `n` rows of the curated split in a seeded order.
"""

import random
from collections.abc import Callable, Iterator

TokenCount = Callable[[list[dict]], list[int]]  # tokens of each row as the SFT trainer renders it


def seeded_cycle(rows: list, seed: int) -> Iterator:
    """The rows in a seeded random order, then again in a fresh order, and so on."""
    if not rows:
        raise ValueError("cannot draw from an empty pool")
    rng = random.Random(seed)
    while True:
        order = list(rows)
        rng.shuffle(order)
        yield from order


def gold_row(prompt: dict, template: str, messages: Callable[[str], list[dict]]) -> dict:
    """One SFT row: the prompt's conversation + the gold answer through the template."""
    return {"messages": messages(prompt["prompt"]) + [{"role": "assistant",
                                                       "content": template.format(answer=prompt["answer"])}],
            "prompt_id": prompt["prompt_id"], "origin": "gold"}


def gold_sft_rows(pool: list[dict], *, seed: int, rows: int, tokens: int, count: TokenCount,
                  template: str, messages: Callable[[str], list[dict]]) -> list[dict]:
    """At least `rows` gold rows drawn from `pool`, then more until they hold >= `tokens` tokens."""
    drawn, total = [], 0
    for prompt in seeded_cycle([p for p in pool if p.get("answer") is not None], seed):
        if len(drawn) >= rows and total >= tokens:
            break
        row = gold_row(prompt, template, messages)
        drawn.append(row)
        total += count([row])[0]
    return drawn


def random_rl_rows(pool: list[dict], n: int, seed: int) -> list[dict]:
    """`n` distinct pool prompts in a seeded random order (all of them when the pool is smaller)."""
    order = list(pool)
    random.Random(seed).shuffle(order)
    return order[:n]


def budget_sft_rows(curated: list[dict], n: int, seed: int) -> list[dict]:
    """The first `n` curated rows in a seeded order (the SFT share of a budget point)."""
    order = list(curated)
    random.Random(seed).shuffle(order)
    return order[:n]


def budget_split(total: int, share: float, per_step: int) -> tuple[int, int]:
    """(SFT rows, GRPO steps) of a budget of `total` examples with `share` of it spent on SFT: SFT
    rows are examples, each GRPO step visits `per_step` prompts (batch_size x grad_accum)."""
    sft_rows = round(share * total)
    return sft_rows, round((total - sft_rows) / per_step)


def facts(rows: list[dict], count: TokenCount, *, label_count: TokenCount | None = None) -> dict:
    """Rows, distinct prompts and tokens of a training set (what the report prints)."""
    out = {"rows": len(rows), "prompts": len({r["prompt_id"] for r in rows}), "tokens": sum(count(rows))}
    if label_count is not None:
        out["label_tokens"] = sum(label_count(rows))
    if rows and "origin" in rows[0]:
        origins: dict[str, int] = {}
        for row in rows:
            origins[row["origin"]] = origins.get(row["origin"], 0) + 1
        out["origins"] = dict(sorted(origins.items()))
    return out
