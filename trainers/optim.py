"""The optimizer a run asks for (`optimizer` and `weights` in TrainConfig).

fp32 weights: torch AdamW, foreach (`adamw`) or fused (`adamw_fused`); 16 bytes per trained
parameter (weight, gradient, two moments). bf16 weights: `BF16AdamW` keeps the two moments in
fp32, computes each update in fp32 and rounds it *stochastically* into the bf16 weight, 12 bytes
per parameter. Rounding to nearest would drop every update smaller than half a bf16 step (about
0.4% of the weight: most updates at lr 1e-5); stochastic rounding keeps them in expectation
(E[round(w)] = w), the approach of Zamirai et al. 2020 ("Revisiting BFloat16 Training") and
torchao's `bf16_stochastic_round`. `adamw_8bit` is bitsandbytes' block-wise 8-bit AdamW (about
2 bytes of state per parameter), where that package imports.
"""

import importlib.util

import torch
from torch.optim.adamw import adamw

from schemas.errors import ConfigError


def param_groups(model, weight_decay: float) -> list[dict]:
    """Trainable parameters, with weight decay on matrices only (not on norms and biases)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def build_optimizer(model, cfg) -> torch.optim.Optimizer:
    """The optimizer `cfg.optimizer` over `model`'s trainable parameters (see the module doc)."""
    groups = param_groups(model, cfg.weight_decay)
    options = {"lr": cfg.learning_rate, "betas": tuple(cfg.adam_betas), "eps": 1e-8}
    if cfg.optimizer == "adamw_8bit":
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError("optimizer adamw_8bit needs bitsandbytes, which is not installed here "
                              "(pip install bitsandbytes); choose optimizer adamw_fused")
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(groups, **options)
    fused = cfg.optimizer == "adamw_fused"
    if cfg.weights == "bf16":
        return BF16AdamW(groups, fused=fused, seed=cfg.seed, **options)
    return torch.optim.AdamW(groups, fused=fused or None, foreach=None if fused else True, **options)


def stochastic_round(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """fp32 -> bf16, rounding up with probability equal to the dropped fraction (unbiased).

    bf16 is the top 16 bits of fp32: add uniform noise below them, then cut them off."""
    noise = torch.randint(0, 1 << 16, x.shape, dtype=torch.int32, device=x.device, generator=generator)
    return ((x.contiguous().view(torch.int32) + noise) & -65536).view(torch.float32).to(torch.bfloat16)


def _local(t: torch.Tensor) -> torch.Tensor:
    """The local shard of a DTensor (FSDP2), the tensor itself otherwise."""
    return t.to_local() if hasattr(t, "to_local") else t


class BF16AdamW(torch.optim.Optimizer):
    """AdamW over bf16 weights: fp32 moments and update, stochastic rounding into the weight.

    One parameter at a time, so the fp32 temporaries never exceed the largest matrix. The rounding
    noise comes from a generator seeded by (seed, group, update count): replicas on several ranks
    round alike, and a resumed run rounds as the uninterrupted one (the count is in the state)."""

    def __init__(self, params, *, lr: float, betas: tuple[float, float], eps: float, weight_decay: float = 0.0,
                 fused: bool = False, seed: int = 0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "fused": fused, "rounding_updates": 0})
        self.seed, self._generators = seed, {}

    @torch.no_grad()
    def step(self, closure=None):
        for number, group in enumerate(self.param_groups):
            group["rounding_updates"] += 1
            for generator in self._generators.values():
                generator.manual_seed(self._stream(number, group["rounding_updates"]))
            for param in group["params"]:
                if param.grad is not None:
                    self._update(param, group, self._generator(_local(param).device, number, group))

    def load_state_dict(self, state_dict: dict) -> None:
        """As torch's, but the moments stay fp32 (torch casts saved state to the weights' dtype)."""
        saved = [pid for group in state_dict["param_groups"] for pid in group["params"]]
        moments = {pid: {k: v for k, v in state_dict["state"].get(pid, {}).items() if k != "step"} for pid in saved}
        super().load_state_dict(state_dict)
        params = [p for group in self.param_groups for p in group["params"]]
        for pid, param in zip(saved, params):
            for key, value in moments[pid].items():
                self.state[param][key] = value.to(device=param.device, dtype=torch.float32)

    def _stream(self, group: int, update: int) -> int:
        return (self.seed * 1_000_003 + group * 7_919 + update) % (2**63)

    def _generator(self, device: torch.device, number: int, group: dict) -> torch.Generator:
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device)
            self._generators[device].manual_seed(self._stream(number, group["rounding_updates"]))
        return self._generators[device]

    def _update(self, param: torch.Tensor, group: dict, generator: torch.Generator) -> None:
        state, weight = self.state[param], _local(param)
        if not state:  # moments shaped like the parameter (DTensors under FSDP2, so they shard alike)
            step_device = weight.device if group["fused"] else "cpu"
            state["step"] = torch.zeros((), dtype=torch.float32, device=step_device)
            state["exp_avg"] = torch.zeros_like(param, dtype=torch.float32)
            state["exp_avg_sq"] = torch.zeros_like(param, dtype=torch.float32)
        master = weight.float()
        beta1, beta2 = group["betas"]
        adamw([master], [_local(param.grad).float()], [_local(state["exp_avg"])], [_local(state["exp_avg_sq"])], [],
              [state["step"]], foreach=False, fused=group["fused"] or None, amsgrad=False, beta1=beta1, beta2=beta2,
              lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"], maximize=False)
        weight.copy_(stochastic_round(master, generator))
