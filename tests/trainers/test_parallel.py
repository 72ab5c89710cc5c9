"""Several processes (torch.distributed on gloo, 2 CPU processes): FSDP2 for SFT and DPO, data
parallel for GRPO. Same global batch, same losses and weights as one process; the checkpoint
loads in transformers; `warmstart train --gpus 2 --device cpu` records the run."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parallel_check import run_all
from tiny_models import digit_preference_rows, digit_sft_rows, rl_rows
from trainers.parallel import Parallel

HERE = Path(__file__).resolve().parent
COMMON = {"device": "cpu", "max_steps": 3, "progress": False, "seed": 3, "learning_rate": 1e-5,
          "lr_schedule": "constant", "batch_size": 4, "grad_accum": 2}


def write_data(tmp_path) -> dict[str, str]:
    rows = {"sft": [{"messages": r["messages"]} for r in digit_sft_rows(16)],
            "dpo": [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in digit_preference_rows(16)],
            "grpo": [{k: r[k] for k in ("prompt", "answer", "verifier", "metadata")} for r in rl_rows(16)]}
    paths = {}
    for trainer, table in rows.items():
        paths[trainer] = str(tmp_path / f"{trainer}.parquet")
        pq.write_table(pa.Table.from_pylist(table), paths[trainer])
    return paths


GRPO = {"num_generations": 2, "max_new_tokens": 2, "batch_size": 2, "rollout_backend": "transformers"}
RUNS = {"sft": {"trainer": "sft"}, "dpo": {"trainer": "dpo"},
        "grpo": {"trainer": "grpo", **GRPO, "filter_zero_variance": False, "num_iterations": 2},
        # only "say 0" prompts keep a reward spread: most steps leave a rank, or both, without samples
        "grpo-filtered": {"trainer": "grpo", **GRPO, "filter_zero_variance": True, "sampler_only": "0"}}


def spec(tmp_path, model_dir, data: dict, tag: str) -> dict:
    return {"out": str(tmp_path / f"{tag}.json"),
            "runs": {name: {**COMMON, **options, "data": data[options["trainer"]], "model": str(model_dir),
                            "out": str(tmp_path / f"{tag}-{name}"), "gpus": 2 if tag == "two" else 1}
                     for name, options in RUNS.items()}}


@pytest.mark.slow
def test_two_processes_train_like_one_on_the_same_global_batch(digit_model_dir, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    data = write_data(tmp_path)
    two = spec(tmp_path, digit_model_dir, data, "two")
    (tmp_path / "two-spec.json").write_text(json.dumps(two))
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(HERE / "parallel_check.py"), str(tmp_path / "two-spec.json")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    sharded = json.loads(Path(two["out"]).read_text())
    single = run_all(spec(tmp_path, digit_model_dir, data, "one"))
    for trainer in RUNS:
        assert sharded[trainer]["processes"] == 2 and single[trainer]["processes"] == 1
        one, two_losses = single[trainer]["losses"], sharded[trainer]["losses"]
        assert one.keys() == two_losses.keys() == {"1", "2", "3"}
        for step in one:  # same global batch: same loss and gradient (norm) at every step
            norms = single[trainer]["grad_norms"][step], sharded[trainer]["grad_norms"][step]
            if one[step] is None:  # GRPO: no group with a reward spread anywhere in this step
                assert two_losses[step] is None and norms == (None, None)
                continue
            assert one[step] == pytest.approx(two_losses[step], rel=1e-4, abs=1e-6), (trainer, step)
            assert norms[0] == pytest.approx(norms[1], rel=1e-3), (trainer, step, norms)
        files = [load_file(Path(single[trainer]["checkpoint"], "model.safetensors")),
                 load_file(Path(sharded[trainer]["checkpoint"], "model.safetensors"))]
        assert files[0].keys() == files[1].keys()  # the same checkpoint layout as one process saves
        reference = AutoModelForCausalLM.from_pretrained(single[trainer]["checkpoint"]).state_dict()
        loaded = AutoModelForCausalLM.from_pretrained(sharded[trainer]["checkpoint"]).state_dict()
        worst = max(float((weight - loaded[name]).abs().max()) for name, weight in reference.items())
        assert worst < 2e-5, (trainer, worst)  # the gathered checkpoint loads; Adam's first steps are ±lr


def test_a_rank_gets_its_share_and_small_batches_are_repeated():
    assert Parallel(0, 2, "fsdp").shard([1, 2, 3, 4, 5]) == [1, 3, 5]
    assert Parallel(1, 2, "fsdp").shard([1, 2, 3, 4, 5]) == [2, 4]
    assert Parallel(1, 4, "fsdp").shard([7, 8]) == [8] and Parallel(3, 4, "fsdp").shard([7, 8]) == [8]
    assert Parallel().shard([1, 2]) == [1, 2]
