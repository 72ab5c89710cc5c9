"""SFT, DPO and GRPO trainers (trainers/registry.py): short recipes over shared collation, losses and `fit`."""
