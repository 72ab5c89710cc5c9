"""Checks that every method a curate config switches on has its inputs, before any engine loads
and anything is sampled or written: DMT needs two stages of SFT data, a separate LLM judge needs
a model that resolves. Each failure is one typed error naming the config key.

    prompts = load_prompts(cfg.sources, cfg.data_roots)
    check_methods(cfg, prompts)          # raises ConfigError / ModelError, writes nothing
    judge = load_judge(cfg, backend)     # the judge's engine, loaded once (or the policy's)
"""

import pyarrow as pa

from curation.backends.base import GenerationBackend
from curation.judge import POLICY
from curation.mixing import check_dmt
from flows.config import CurateConfig
from schemas.errors import ModelError


def check_methods(cfg: CurateConfig, prompts: pa.Table) -> None:
    """Raise before any sampling when a method that is on lacks its inputs."""
    check_dmt(cfg.mix.dmt, prompts)
    check_judge(cfg)


def judge_backend_kind(cfg: CurateConfig) -> str:
    """The engine a separate judge runs on: its own backend, else the curate run's."""
    return cfg.judge.backend or cfg.backend


def check_judge(cfg: CurateConfig) -> None:
    """A separate judge model must resolve to a prepared model (served models are checked on load)."""
    from curation.models import resolve_model

    if cfg.judge is None or cfg.judge.model == POLICY or judge_backend_kind(cfg) == "openai":
        return
    try:
        resolve_model(cfg.judge.model)
    except ModelError as exc:
        raise ModelError(f"judge.model: {exc}") from None


def load_judge(cfg: CurateConfig, policy: GenerationBackend) -> GenerationBackend | None:
    """The judge's engine, loaded once for the run: None without a judge, the policy's own engine
    for `model: policy`, else the judge model on its backend."""
    from curation.backends import load_backend

    if cfg.judge is None:
        return None
    if cfg.judge.model == POLICY:
        return policy
    try:
        return load_backend(judge_backend_kind(cfg), cfg.judge.model, seed=cfg.judge.seed,
                            options=cfg.judge.backend_options)
    except ModelError as exc:
        raise ModelError(f"judge.model: {exc}") from None
