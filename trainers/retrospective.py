"""Difficulty-aware retrospective sampling (QwenLong-L1) for GRPO: train the curriculum stage by
stage, and let every later stage re-draw the hard prompts of the earlier ones.

The split carries the plan (curation/curriculum.py): each prompt's home `curriculum_stage` and
its `replay_stages`, the later stages the curated schedule replays it in. Stage s trains its own
prompts plus as many replays as the schedule gave it. Which prompts fill those replay slots is
drawn when stage s starts, without replacement, with weight `difficulty_weight(p)` over all
earlier stages' prompts, p being the pass rate this run's own rollouts last measured for the
prompt (before its first rollout: its curation pass rate). So prompts that stayed hard come
back, and prompts the policy now solves every time come back only when nothing harder is left.
The order within a stage is a seeded shuffle per epoch. A resumed run starts its estimates
again from the curation pass rates.

    plan = RetrospectivePlan.from_rows(rows, seed=42)   # None: the split has no replays
    slots = plan.order(epoch)                           # slot ids, stage by stage
    prompt = plan.prompt(slots[0])                      # row index (replays drawn as their stage starts)
    plan.observe(prompt, pass_rate=0.25)                # what the rollouts measured
"""

from collections import Counter

from curation.curriculum import difficulty_weight
from curation.mixing import weighted_order

UNKNOWN_PASS_RATE = 0.5  # a row without a pass rate (e.g. a hand-made export) counts as medium


class RetrospectivePlan:
    """The slots of each epoch, stage by stage: a row's own slot, or a replay slot of its stage."""

    def __init__(self, ids: list[str], stages: list[int], replay_stages: list[list[int]],
                 pass_rates: list[float | None], seed: int):
        self.ids, self.home, self.seed = ids, stages, seed
        self.estimate = [UNKNOWN_PASS_RATE if p is None else p for p in pass_rates]
        wanted = Counter(s for replays in replay_stages for s in replays)
        # a stage replays only what comes before it (rows dropped by the trainer may empty a pool)
        self.replays = {s: n for s, n in wanted.items() if any(h < s for h in stages)}
        self.stages = sorted(set(stages) | set(self.replays))
        self.n_slots = len(ids) + sum(self.replays.values())
        self._slots: dict[int, list[tuple[int, int | None, int]]] = {}
        self._drawn: dict[tuple[int, int], list[int]] = {}

    @classmethod
    def from_rows(cls, rows: list[dict], seed: int) -> "RetrospectivePlan | None":
        """The plan of rows with curriculum_stage and replay_stages; None when no row is replayed."""
        replays = [list(row.get("replay_stages") or []) for row in rows]
        stages = [row.get("curriculum_stage") for row in rows]
        if not any(replays) or any(s is None for s in stages):
            return None
        return cls([str(row.get("prompt_id", i)) for i, row in enumerate(rows)], stages, replays,
                   [row.get("pass_rate") for row in rows], seed)

    def order(self, epoch: int) -> list[int]:
        """Slot ids of `epoch` (epoch * n_slots + position), stage by stage, shuffled within a stage."""
        return [epoch * self.n_slots + position for position in range(len(self._epoch_slots(epoch)))]

    def prompt(self, slot_id: int) -> int:
        """The row a slot trains: its own row, or the replay drawn for it when its stage started."""
        epoch, position = divmod(slot_id, self.n_slots)
        stage, index, k = self._epoch_slots(epoch)[position]
        return index if index is not None else self._replayed(epoch, stage)[k]

    def observe(self, index: int, pass_rate: float) -> None:
        """The pass rate the latest rollouts of row `index` measured."""
        self.estimate[index] = pass_rate

    def _epoch_slots(self, epoch: int) -> list[tuple[int, int | None, int]]:
        """(stage, row or None for a replay slot, replay number) of every slot of the epoch."""
        if epoch not in self._slots:
            slots = []
            for stage in self.stages:
                own = [(stage, i, 0) for i, h in enumerate(self.home) if h == stage]
                stage_slots = own + [(stage, None, k) for k in range(self.replays.get(stage, 0))]
                keys = [f"{self.ids[i]}" if i is not None else f"replay-{k}" for _, i, k in stage_slots]
                shuffled = weighted_order(keys, [1.0] * len(keys), self.seed + 7919 * epoch + stage)
                slots += [stage_slots[j] for j in shuffled]
            self._slots[epoch] = slots
        return self._slots[epoch]

    def _replayed(self, epoch: int, stage: int) -> list[int]:
        """The rows replayed in `stage` of `epoch`, drawn once, by difficulty, as the stage starts."""
        key = (epoch, stage)
        if key not in self._drawn:
            pool = [i for i, h in enumerate(self.home) if h < stage]
            weights = [difficulty_weight(self.estimate[i]) for i in pool]
            drawn = weighted_order([self.ids[i] for i in pool], weights, self.seed + 7919 * epoch + 104729 * stage)
            n = self.replays[stage]
            self._drawn[key] = [pool[drawn[k % len(drawn)]] for k in range(n)]  # repeats only if n > pool
        return self._drawn[key]
