"""Model synthesis reads the policy's own latest Missing-Skill-Profile, found by the model's
fingerprint: two models in folders of one name never share a profile, and a profile an older lake
wrote without a fingerprint is read only when its run is named. (Outside test_skills.py, whose
fake-policy runs stand a fake identity in for every model.)"""

import shutil
from datetime import datetime, timedelta, timezone

import pytest

from flows.config import validate
from flows.stages.skills import synthesis_profile
from schemas.errors import InputError
from schemas.lake import Lake

SYNTHESIS = {"mode": "model", "n_prompts": 12, "pairs": 1}


def config(folder, model_dir, **synthesis) -> dict:
    """A curate config with model synthesis on the transformers backend (no engine is loaded here)."""
    return {"lake": str(folder / "lake"), "backend": "transformers", "model": str(model_dir), "decontam": None,
            "sources": [{"type": "reasoning_gym", "task": "gcd", "count": 4, "seed": 1}],
            "skills": {"synthesis": {**SYNTHESIS, **synthesis}}}


@pytest.fixture(scope="module")
def namesakes(tmp_path_factory, tiny_model_dir):
    """Two models in folders both called `final`: the tiny model, and a copy with other weights."""
    from curation.model_identity import CACHE_NAME
    from safetensors.torch import load_file, save_file

    root = tmp_path_factory.mktemp("namesakes")
    first, second = (shutil.copytree(tiny_model_dir, root / side / "final", ignore=shutil.ignore_patterns(CACHE_NAME))
                     for side in ("a", "b"))
    tensors = load_file(second / "model.safetensors")
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1.0
    save_file(tensors, second / "model.safetensors", metadata={"format": "pt"})
    return first, second


def commit_profile(lake: Lake, run_id: str, model_dir, hours: int) -> None:
    """A curate run's `runs` row and a two-skill profile of `model_dir`'s policy, as the rank stage writes it."""
    from curation.backends.factory import identity_without_engine

    policy = identity_without_engine("transformers", model_dir, None).fingerprint
    started = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(hours=hours)
    profile = [{"skill_id": f"s{i}", "name": f"skill {i}", "model": model_dir.name, "n_prompts": 4, "n_samples": 16,
                "n_failures": 8, "pass_rate": 0.5, "ci_low": 0.3, "ci_high": 0.7, "deficit": 0.0, "missing": False,
                "policy": policy} for i in range(2)]
    run = {"run_id": run_id, "kind": "curate", "config": "{}", "started": started, "finished": started,
           "status": "completed", "parent_run_id": None, "detail": ""}
    lake.commit({"runs": [run], "skill_profile": profile}, run_id=run_id)


def test_synthesis_reads_the_policys_own_profile_not_a_namesakes(tmp_path, namesakes):
    first, second = namesakes
    lake = Lake(tmp_path / "lake")

    def profile_run(model_dir) -> str:
        found = synthesis_profile(validate(config(tmp_path, model_dir))).column("run_id").unique().to_pylist()
        assert len(found) == 1
        return found[0]

    commit_profile(lake, "first-old", first, hours=0)
    commit_profile(lake, "first-new", first, hours=1)
    assert first.name == second.name and profile_run(first) == "first-new"  # its own latest
    with pytest.raises(InputError, match="no skill_profile of this policy \\(model '.*final', fingerprint"):
        profile_run(second)  # same folder name, other weights: not the first's profile
    commit_profile(lake, "second", second, hours=2)  # newer, same folder name, same skill ids
    assert (profile_run(first), profile_run(second)) == ("first-new", "second")


def test_a_profile_from_before_fingerprints_is_read_only_by_its_run(tmp_path, namesakes):
    """An older lake's profile rows have no policy: never matched by fingerprint, read when named,
    and kept when the policy profiles again."""
    first, _ = namesakes
    lake = Lake(tmp_path / "lake")
    commit_profile(lake, "old", first, hours=0)
    lake.query("ALTER TABLE skill_profile DROP COLUMN policy", write=True)  # as a lake written before it
    latest, named = validate(config(tmp_path, first)), validate(config(tmp_path, first, profile_run="old"))
    with pytest.raises(InputError, match="found only by naming their run in skills.synthesis.profile_run"):
        synthesis_profile(latest)
    assert synthesis_profile(named).column("run_id").unique().to_pylist() == ["old"]
    commit_profile(lake, "new", first, hours=1)  # the commit adds the column back; the old rows stay, NULL there
    assert synthesis_profile(latest).column("run_id").unique().to_pylist() == ["new"]
    assert synthesis_profile(named).num_rows == 2
