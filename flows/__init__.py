"""Prefect flows, configs and the `warmstart` command line."""
