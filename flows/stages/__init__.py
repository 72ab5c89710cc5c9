"""Curate-flow stages: each composes curation steps over a CurationState (flows/stages/state.py);
the steps a stage runs are declared lists of Step (flows/stages/steps.py)."""
