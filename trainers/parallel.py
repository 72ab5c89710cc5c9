"""Training on several devices with torch.distributed: one process per device under `torchrun`.

SFT and DPO shard the model with FSDP2 (`fully_shard` on every decoder layer, then on a root
module that runs the backbone and the chunked LM head: trainers/logprobs.py). GRPO keeps a full
replica per process (each rank samples its own prompts, so ranks call the model a different
number of times, which sharded weights cannot allow) and sums the gradients after backward.

Every rank sees the same global micro-batches (the seeded order) and trains on its share; the
recipes normalise losses by window totals summed over ranks, and gradients are *summed* over
ranks, so N processes compute the gradient of the same global batch as one (tested on gloo).
"""

import math
import os
from dataclasses import dataclass

import torch

from schemas.errors import DeviceError
from trainers.collate import split_by_budget
from trainers.model_parts import backbone, base_model

BUCKET_ELEMENTS = 1 << 23  # gradients are summed in flat buckets of about 32 MiB (fp32)


@dataclass(frozen=True)
class Parallel:
    """This process's place in the run: rank, world size and how the model is spread."""

    rank: int = 0
    world: int = 1
    strategy: str | None = None  # None: one process; "fsdp": sharded; "ddp": replicated

    @property
    def main(self) -> bool:
        """Rank 0 saves checkpoints and reports metrics."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.strategy is not None

    @property
    def loss_scale(self) -> int:
        """FSDP2 averages gradients over ranks; losses are normalised by global totals, so the
        backward pass scales them by the world size to turn that average into a sum."""
        return self.world if self.strategy == "fsdp" else 1

    def shard(self, indices: list[int]) -> list[int]:
        """This rank's share of a global micro-batch; a micro-batch smaller than the world is
        repeated cyclically so that every rank has work (FSDP needs the same calls on all)."""
        if self.world == 1:
            return indices
        padded = (indices * math.ceil(self.world / len(indices)))[:max(len(indices), self.world)]
        return padded[self.rank::self.world]

    def sum(self, value: float) -> float:
        """`value` summed over ranks (itself in one process)."""
        if not self.distributed:
            return value
        tensor = torch.tensor([float(value)], dtype=torch.float64, device=_comm_device())
        torch.distributed.all_reduce(tensor)
        return float(tensor.item())

    def reduce_metrics(self, metrics: dict[str, float], summed: tuple[str, ...]) -> dict[str, float]:
        """Metrics over all ranks: `summed` names added up, the others averaged (a rank that had no
        data for a metric, e.g. GRPO without samples, counts as 0)."""
        if not self.distributed:
            return metrics
        names = [None] * self.world
        torch.distributed.all_gather_object(names, sorted(metrics))
        names = sorted(set().union(*names))
        tensor = torch.tensor([float(metrics.get(n, 0.0)) for n in names], dtype=torch.float64,
                              device=_comm_device())
        torch.distributed.all_reduce(tensor)
        return {n: v if n in summed else v / self.world for n, v in zip(names, tensor.tolist())}

    def map_shared(self, items: list, fn) -> list:
        """`fn` over `items`, dealt round-robin to the ranks; every rank gets all results in order.
        Ranks make the same number of calls (a spare call on item 0), as sharded weights need."""
        if not self.distributed:
            return [fn(item) for item in items]
        mine = {}
        for turn in range(math.ceil(len(items) / self.world)):
            index = turn * self.world + self.rank
            result = fn(items[index if index < len(items) else 0])
            if index < len(items):
                mine[index] = result
        parts = [None] * self.world
        torch.distributed.all_gather_object(parts, mine)
        merged = {k: v for part in parts for k, v in part.items()}
        return [merged[i] for i in range(len(items))]

    def sync_gradients(self, model) -> None:
        """Replicated models: sum every gradient over ranks (a rank without data sends zeros)."""
        if self.strategy != "ddp":
            return
        params = [p for p in model.parameters() if p.requires_grad]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        for run in split_by_budget([p.numel() for p in params], BUCKET_ELEMENTS):
            _sum_bucket([params[i].grad for i in run])

    def broadcast(self, obj):
        """Rank 0's `obj` on every rank (so that all ranks follow one decision)."""
        if not self.distributed:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()


ONE_PROCESS = Parallel()


def _comm_device() -> torch.device:
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _sum_bucket(grads: list[torch.Tensor]) -> None:
    flat = torch.cat([g.reshape(-1).float() for g in grads])  # bf16 gradients are summed in fp32
    torch.distributed.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def launched_by_torchrun() -> bool:
    """True inside a process that torchrun started (it sets WORLD_SIZE and LOCAL_RANK)."""
    return "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def init_parallel(device: torch.device, strategy: str) -> tuple[Parallel, torch.device]:
    """Join the torchrun process group (nccl on CUDA, gloo on CPU) with `strategy`; returns this
    rank's Parallel and its device (cuda:LOCAL_RANK). Outside torchrun: one process."""
    if not launched_by_torchrun():
        return ONE_PROCESS, device
    local_rank = int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise DeviceError(f"rank {local_rank} has no GPU: this machine has {torch.cuda.device_count()}")
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Parallel(torch.distributed.get_rank(), torch.distributed.get_world_size(), strategy), device


def close_parallel() -> None:
    """Leave the process group (end of a torchrun worker)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def decoder_layers(model) -> list[torch.nn.Module]:
    """The repeated blocks of a transformers causal LM (what FSDP2 shards one by one)."""
    layers = getattr(backbone(model), "layers", None)
    if layers is None:
        raise DeviceError(f"cannot find the decoder layers of {type(base_model(model)).__name__} to shard")
    return list(layers)


def shard_model(model, parallel: Parallel, device: torch.device, *, bf16: bool, weights: str):
    """FSDP2 over `model` (in place): each decoder layer, then a root that computes label
    log-probs. bf16 with fp32 weights: all-gather in bf16, reduce gradients in fp32."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    from trainers.logprobs import attach_sharded_root

    mesh = init_device_mesh(device.type, (parallel.world,))
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) \
        if bf16 and weights == "fp32" else MixedPrecisionPolicy()
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh, mp_policy=policy)
    # The root reshards after forward too (FSDP2 keeps a root's weights gathered by default): else a
    # forward without grad (DPO's reference pass, evaluation) leaves them gathered and stale.
    fully_shard(attach_sharded_root(model), mesh=mesh, mp_policy=policy, reshard_after_forward=True)
    return model


def full_state_dict(model, parallel: Parallel) -> dict | None:
    """The unsharded weights on CPU, on rank 0 (None on the others; every rank must call)."""
    if parallel.strategy != "fsdp":
        return None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not parallel.main:
        return None
    first = {}  # a tied weight (embedding = LM head) is saved once, under its first name, as one process saves it
    for name, param in model.named_parameters(remove_duplicate=False):
        first.setdefault(id(param), name)
    return {name: value for name, value in state.items() if first.get(id(_param(model, name)), name) == name}


def _param(model, name: str):
    module_name, _, attr = name.rpartition(".")
    module = model.get_submodule(module_name) if module_name else model
    return getattr(module, attr, None)
