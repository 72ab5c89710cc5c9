"""The README's benchmark tables are generated from benchmarks/results.json, its entries come from the
benchmarks' own lines, every comparison names its peer's version and settings, and the training
matrix pairs cells at equal settings."""

import dataclasses
import json

import pytest

from benchmarks import bench_table, run_all, training, training_jobs

RESULTS = json.loads(bench_table.RESULTS.read_text(encoding="utf-8"))


def test_the_readme_block_is_the_rendering_of_the_committed_results():
    readme = bench_table.README.read_text(encoding="utf-8")
    assert bench_table.with_block(readme, bench_table.render(RESULTS)) == readme, \
        "README benchmark table edited by hand or stale: run python benchmarks/bench_table.py"
    assert bench_table.main(["--check"]) == 0


def test_the_committed_entries_are_what_the_benchmarks_printed():
    assert RESULTS["entries"] == run_all.collect(RESULTS["raw"], RESULTS["runs"])


def test_every_comparison_names_its_peer_version_and_when_it_ran():
    entries = [e for e in RESULTS["entries"] if "error" not in e]
    assert {e["benchmark"] for e in entries} >= {"training", "dedup", "generation", "adaptive_sampling"}
    for e in entries:
        assert e["peer"] and "load_avg_start" in e and e["date"], e["name"]
        if e["benchmark"] in ("training", "dedup", "generation", "sql_rollouts", "orchestration"):
            assert e["peer_version"], e["name"]
        if e["benchmark"] in ("training", "dedup", "generation"):
            assert e["settings"], e["name"]


def test_equal_settings_rows_come_first_within_a_benchmark():
    rows = [dict(benchmark="a", kind=kind, name=kind) for kind in ("defaults", "", "equal settings", "fastest")]
    rows.append(dict(benchmark="b", kind="equal settings", name="b"))
    assert [e["name"] for e in bench_table.ordered(rows)] == ["equal settings", "fastest", "", "defaults", "b"]


def test_the_block_replaces_only_what_lies_between_the_markers():
    readme = f"intro\n{bench_table.BEGIN}\nold table\n{bench_table.END}\noutro\n"
    assert bench_table.with_block(readme, "new") == f"intro\n{bench_table.BEGIN}\nnew\n{bench_table.END}\noutro\n"
    with pytest.raises(ValueError):
        bench_table.with_block("no markers here", "new")


def cell(framework, trainer, variant, gc, tokens_per_s, peak):
    return {**training_jobs.describe(framework, trainer, variant, gc), "tokens_per_s": tokens_per_s,
            "peak_mem_mb": peak}


def test_comparisons_pair_cells_at_equal_settings_and_name_each_sides_best():
    cells = {"ws-packed-off": cell("warmstart", "sft", "", "off", 100.0, 3000),
             "ws-padded-off": cell("warmstart", "sft", "padded", "off", 80.0, 3100),
             "trl-padfree-off": cell("trl", "sft", "padding_free", "off", 90.0, 2900),
             "trl-padded-on": cell("trl", "sft", "", "on", 50.0, 2500),
             "trl-packing-off": cell("trl", "sft", "packing", "off", 120.0, 3300)}
    found = {(c["kind"], c["ours"], c["reference"]) for c in training.comparisons(cells, ["sft"])}
    assert found == {("equal settings", "ws-packed-off", "trl-padfree-off"),
                     ("defaults", "ws-packed-off", "trl-padded-on"),
                     ("fastest", "ws-packed-off", "trl-packing-off"),
                     ("least memory", "ws-packed-off", "trl-padded-on")}
    equal = next(c for c in training.comparisons(cells, ["sft"]) if c["kind"] == "equal settings")
    assert equal["speedup"] == pytest.approx(100 / 90, abs=1e-3) and equal["memory_ratio"] == pytest.approx(3000 / 2900,
                                                                                                           abs=1e-3)


def test_default_layouts_pair_each_sides_default_at_the_same_checkpointing():
    cells = {"ws-off": cell("warmstart", "grpo", "", "off", 40.0, 2000),
             "ws-on": cell("warmstart", "grpo", "", "on", 30.0, 1500),
             "trl-off": cell("trl", "grpo", "", "off", 20.0, 2600)}
    found = [(c["kind"], c["ours"], c["reference"], c["label"]) for c in training.comparisons(cells, ["grpo"])]
    assert found == [("default layouts", "ws-off", "trl-off", "checkpointing off"),
                     ("fastest", "ws-off", "trl-off", "each side's fastest cell"),
                     ("least memory", "ws-on", "trl-off", "each side's least-memory cell")]
    line = {"cells": cells, "steps": 2, "batch_size": 4, "device": "cpu", "versions": {"trl": "1.16.0"},
            "comparisons": training.comparisons(cells, ["grpo"])}
    entries = run_all.from_training(line)
    assert entries[0]["name"] == "training GRPO, default layouts (checkpointing off): tokens/s"
    assert entries[0]["peer"] == "TRL GRPOTrainer" and entries[0]["ratio"] == 2.0


def test_every_variant_sets_something_and_trl_knows_each_option():
    trl = pytest.importorskip("trl")
    fields = {"sft": {f.name for f in dataclasses.fields(trl.SFTConfig)},
              "dpo": {f.name for f in dataclasses.fields(trl.DPOConfig)},
              "grpo": {f.name for f in dataclasses.fields(trl.GRPOConfig)}}
    for (framework, trainer), variants in training_jobs.VARIANTS.items():
        seen = [variant.options for variant in variants.values()]
        assert len({json.dumps(options, sort_keys=True) for options in seen}) == len(seen), (framework, trainer)
        if framework == "trl":
            assert all(set(options) <= fields[trainer] for options in seen)


def test_the_cli_takes_the_gpu_scripts_flags_and_expands_the_matrix():
    args = training.parse_args(["--device", "cpu", "--model", "/models/m", "--batch-size", "2", "--trainers", "sft",
                                "--gradient-checkpointing", "both", "--trl-set", "use_liger_kernel=true",
                                "--ours-set", "pack_length=0", "--no-padded"])
    assert args.trl_set == [("use_liger_kernel", True)] and args.ours_set == ["pack_length=0"]
    cells = training.cells(args)
    assert {gc for _, gc in cells} == {"on", "off"}
    assert sorted({name for name, _ in cells}) == ["trl-sft", "trl-sft-packing", "trl-sft-padding_free",
                                                   "warmstart-sft"]


def test_entries_follow_the_declared_benchmark_order_whatever_ran_last():
    raw = dict(reversed(list(RESULTS["raw"].items())))
    order = list(dict.fromkeys(e["benchmark"] for e in run_all.collect(raw, RESULTS["runs"])))
    assert order == [name for name in run_all.EXTRACT if name in raw]


def test_variants_choose_the_trainers_and_unknown_jobs_are_refused(capsys):
    args = training.parse_args(["--device", "cpu", "--variants", "warmstart-grpo,trl-sft", "--gradient-checkpointing",
                                "off", "--batch-size", "8"])
    assert args.trainers == ["grpo", "sft"] and training.cells(args) == [("warmstart-grpo", "off"), ("trl-sft", "off")]
    for bad in (["--variants", "trl-sft-nonsense"], ["--trainers", "ppo"],
                ["--trainers", "grpo", "--batch-size", "6", "--generations", "4"]):
        with pytest.raises(SystemExit):
            training.parse_args(["--device", "cpu", *bad])
    assert "trl-sft-nonsense" in capsys.readouterr().err


def test_weights_compile_and_checkpointing_reach_both_sides_configs(tmp_path):
    pytest.importorskip("trl")
    import torch

    from benchmarks import training_trl

    def configs(*flags):
        args = training.parse_args(["--device", "cpu", "--batch-size", "4", "--generations", "2", *flags])
        args.gradient_checkpointing = "on" if "--gradient-checkpointing" in flags else "off"
        return ([training_jobs.warmstart_config(t, args, tmp_path) for t in ("sft", "grpo")],
                [training_trl.trl_config(t, args, "") for t in ("sft", "grpo")])

    (ws_sft, ws_grpo), (trl_sft, trl_grpo) = configs()
    assert (ws_sft.weights, ws_sft.compile, ws_sft.gradient_checkpointing) == ("fp32", False, False)
    assert trl_sft.model_init_kwargs["dtype"] == torch.float32 and not trl_sft.gradient_checkpointing
    assert (ws_grpo.batch_size, ws_grpo.num_generations, trl_grpo.per_device_train_batch_size,
            trl_grpo.num_generations) == (2, 2, 4, 2)
    (ws_sft, _), (trl_sft, trl_grpo) = configs("--weights", "bf16", "--compile", "--gradient-checkpointing", "on")
    assert (ws_sft.weights, ws_sft.compile, ws_sft.gradient_checkpointing) == ("bf16", True, True)
    assert trl_sft.model_init_kwargs["dtype"] == torch.bfloat16 and trl_sft.gradient_checkpointing
    assert trl_grpo.model_init_kwargs["dtype"] == torch.bfloat16
