"""flows/deployed.py: the deployed train flow trains the way `warmstart train` does (through
flows.training.train_split, so a two-stage DMT mix trains both stages), without a Prefect server."""

import logging
from types import SimpleNamespace

from flows import deployed, training


def test_train_flow_trains_through_train_split_like_the_cli(monkeypatch, tmp_path):
    calls = []

    def fake_train_split(trainer, cfg, lake, *, parent=None, run_id=None):
        calls.append((trainer, cfg.split, cfg.version, str(cfg.out), parent))
        return [(SimpleNamespace(run_id=f"r{i}", steps=1, checkpoint=f"c{i}"), True) for i in (1, 2)]

    monkeypatch.setattr(training, "train_split", fake_train_split)
    monkeypatch.setattr(deployed, "lake_run_id", lambda: "flowrun12345")
    monkeypatch.setattr(deployed, "get_run_logger", lambda: logging.getLogger("test"))
    monkeypatch.setattr(deployed, "create_table_artifact", lambda *a, **k: None)
    monkeypatch.setattr(deployed, "trained_run", lambda lake, parent: {"run_id": "r2", "parent": parent})
    run = deployed.train_from_split.fn("sft", "mix", version=3, lake=str(tmp_path / "lake"),
                                       args=["--max-steps", "1"])
    assert calls == [("sft", "mix", 3, "checkpoints/sft-flowrun12345", "flowrun12345")]
    assert run == {"run_id": "r2", "parent": "flowrun12345"}
