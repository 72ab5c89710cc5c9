"""SFT, DPO and GRPO trainers: short recipes over shared collation, losses and loop."""
